"""No lost updates: ETag preconditions, and concurrent writers from several processes against N workers."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.e2e._support import JSON_PATCH, ORDERS, json_patch
from tests.live_server import live_server


def test_etag_changes_with_every_stored_change(client) -> None:
    created = client.post(ORDERS, json={"orderItem": [{"action": "add"}]})
    first = created.headers["ETag"]
    assert client.get(f"{ORDERS}/{created.json()['id']}").headers["ETag"] == first
    patched = json_patch(
        client, f"{ORDERS}/{created.json()['id']}", [{"op": "add", "path": "/note", "value": []}]
    )
    assert patched.status_code == 200
    assert patched.headers["ETag"] != first


def test_if_match_mismatch_is_412_and_changes_nothing(client) -> None:
    order = client.post(ORDERS, json={"description": "before"}).json()
    url = f"{ORDERS}/{order['id']}"
    stale = client.get(url).headers["ETag"]
    assert client.patch(url, json={"description": "first"}, headers={"If-Match": stale}).status_code == 200
    refused = client.patch(url, json={"description": "second"}, headers={"If-Match": stale})
    assert refused.status_code == 412
    assert refused.json()["status"] == "412"
    assert client.get(url).json()["description"] == "first"
    assert client.delete(url, headers={"If-Match": stale}).status_code == 412
    assert client.delete(url, headers={"If-Match": client.get(url).headers["ETag"]}).status_code == 204


def test_if_none_match_current_etag_is_304(client) -> None:
    order = client.post(ORDERS, json={}).json()
    url = f"{ORDERS}/{order['id']}"
    tag = client.get(url).headers["ETag"]
    not_modified = client.get(url, headers={"If-None-Match": tag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert client.get(url, headers={"If-None-Match": '"999"'}).status_code == 200


def _append_notes(origin: str, order_id: str, process_index: int, count: int) -> list[int]:
    def append(i: int) -> int:
        operation = [{"op": "add", "path": "/note/-", "value": {"text": f"p{process_index}-{i}"}}]
        response = httpx.patch(
            f"{origin}{ORDERS}/{order_id}", json=operation, headers={"Content-Type": JSON_PATCH}, timeout=60
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=count) as threads:
        return list(threads.map(append, range(count)))


def test_fifty_concurrent_note_appends_from_several_processes_all_land(
    database_url: str, tmp_path: Path
) -> None:
    with live_server(
        database_url, tmp_path / "server.log", workers=2, env={"TMF_BACKGROUND_WORKERS": "false"}
    ) as origin:
        order = httpx.post(f"{origin}{ORDERS}", json={"note": []}).json()
        with ProcessPoolExecutor(max_workers=5) as processes:
            results = processes.map(_append_notes, [origin] * 5, [order["id"]] * 5, range(5), [10] * 5)
            statuses = [status for batch in results for status in batch]
        stored = httpx.get(f"{origin}{ORDERS}/{order['id']}").json()
    assert statuses == [200] * 50
    texts = sorted(note["text"] for note in stored["note"])
    assert texts == sorted(f"p{p}-{i}" for p in range(5) for i in range(10))
