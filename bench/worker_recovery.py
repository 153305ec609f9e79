"""Worker recovery: how long `tmfserver serve --workers 2` takes to replace a worker killed with SIGKILL
(bench/README.md, "Worker recovery"; docs/operating.md, "Worker processes").

    .venv/bin/python bench/worker_recovery.py [--runs 3] [--load 2]

Per run: a server on a fresh SQLite file under build/bench/, `--load` client threads POSTing orders, SIGKILL to
one worker; prints as JSON the seconds from the kill until the supervisor logs the death and until the
replacement logs "Application startup complete", and how many other workers died meanwhile (killed as hung).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live_server import server_process  # noqa: E402

ORDERS = "/tmf-api/resourceOrderingManagement/v4/resourceOrder"
DEATH = re.compile(r"worker died; replacing it|Child process \[\d+\] died")  # ours, uvicorn's own


def started(log: Path) -> list[int]:
    return [int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", log.read_text())]


def write_load(origin: str, stop: threading.Event) -> None:
    with httpx.Client(base_url=origin, timeout=30) as http:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                http.post(ORDERS, json={"orderItem": [{"id": "1", "action": "add"}]})


def run(directory: Path, load: int) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "server.log"
    env = {"TMF_LOG_LEVEL": "INFO", "TMF_LOG_FORMAT": "json"}
    with server_process(f"sqlite:///{directory / 'bench.db'}", log, workers=2, env=env) as (origin, _process):
        while len(started(log)) < 2:
            time.sleep(0.1)
        stop = threading.Event()
        threads = [threading.Thread(target=write_load, args=(origin, stop), daemon=True) for _ in range(load)]
        for thread in threads:
            thread.start()
        time.sleep(2)
        before = started(log)
        deaths_before = len(DEATH.findall(log.read_text()))
        killed_at = time.monotonic()
        os.kill(before[0], signal.SIGKILL)
        noticed = serving = None
        while serving is None and time.monotonic() - killed_at < 60:
            text = log.read_text()
            if noticed is None and len(DEATH.findall(text)) > deaths_before:
                noticed = time.monotonic() - killed_at
            new = [pid for pid in started(log) if pid not in before]
            if new and "Application startup complete" in text.split(f"Started server process [{new[-1]}]")[-1]:
                serving = time.monotonic() - killed_at
            time.sleep(0.02)
        stop.set()
        others = len(DEATH.findall(log.read_text())) - deaths_before - 1
    return {
        "noticed_s": round(noticed, 2) if noticed else None,
        "replacement_serving_s": round(serving, 2) if serving else None,
        "other_workers_killed": others,
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--load", type=int, default=2, help="client threads writing during the run")
    args = parser.parse_args()
    for n in range(args.runs):
        print(json.dumps(run(ROOT / "build" / "bench" / f"worker-recovery-{n}", args.load)), flush=True)


if __name__ == "__main__":
    main()
