-- wrk script: POST one valid TMF652 ResourceOrder per request (the same body for every target).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.body = '{"externalId":"bench","description":"wrk create",'
  .. '"orderItem":[{"id":"1","action":"add"}],'
  .. '"relatedParty":[{"id":"456-dd-df45","@referredType":"Individual"}]}'
