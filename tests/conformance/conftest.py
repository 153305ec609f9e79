"""Tier `conformance`: the API checked against its specifications. test_schemathesis.py generates cases for
every operation of the served documents and sends them in-process to the app (bounded to about 90 s; `make fuzz`
for a long run); ctk_run.py runs TM Forum's conformance kits with newman against a live server (`make ctk`,
outside pytest). Not in `make test-fast`: the generated cases alone take longer than its whole budget. A
hand-written test of one behaviour belongs in tests/e2e.
"""
