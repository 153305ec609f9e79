"""HTTP benchmark: this server (SQLite 1 process, PostgreSQL 1 and N processes) against two peers.

Peers, in the same run and with the same requests:
- Stoplight Prism mocking build/openapi/TMF652.json (validates requests, stores nothing);
- json-server serving the same records from a JSON file it rewrites on every create (a persistent stub).

Scenarios (wrk, 127.0.0.1 only, bounded runs): GET one order by id, a filtered list
(`?state=acknowledged&limit=10`; json-server `?state=acknowledged&_limit=10`), POST create
(bench/post_order.lua).
Prints req/s, p50, p99, non-2xx, the ratio to the best peer, and the RSS of each server process after the run.

Run with `make bench` (installs wrk and the pinned peers). Environment overrides:
  BENCH_DURATION=10 BENCH_CONNECTIONS=32 BENCH_THREADS=2 BENCH_SEED=1000 BENCH_WARMUP=2
  BENCH_TARGETS=tmf-sqlite-1,tmf-pg-1,tmf-pg-2,prism,json-server
  BENCH_SCENARIOS=get,list,create   BENCH_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test
  BENCH_NODE_DIR=build/bench-node   BENCH_JSON=build/bench/http_bench.json   BENCH_LOG_LEVEL=WARNING
  BENCH_SERVER_CMD: another command for the tmf targets, e.g. to compare servers; `{workers}` and `{port}`
  are substituted, HOST/PORT/DATABASE_URL are in its environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from pg_schema import new_schema

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BASE = "/tmf-api/resourceOrderingManagement/v4"
LUA = REPO / "bench" / "post_order.lua"

DURATION = int(os.environ.get("BENCH_DURATION", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
SEED = int(os.environ.get("BENCH_SEED", "1000"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
NODE_DIR = REPO / os.environ.get("BENCH_NODE_DIR", "build/bench-node")
JSON_OUT = REPO / os.environ.get("BENCH_JSON", "build/bench/http_bench.json")
TARGETS = os.environ.get("BENCH_TARGETS", "tmf-sqlite-1,tmf-pg-1,tmf-pg-2,prism,json-server").split(",")
SCENARIOS = os.environ.get("BENCH_SCENARIOS", "get,list,create").split(",")
PEERS = ("prism", "json-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body: dict | None = None) -> tuple[int, dict, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "X-API-Key": "bench"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def order_body(i: int) -> dict:
    return {
        "externalId": f"seed-{i}",
        "description": "seeded order",
        "orderItem": [{"id": "1", "action": "add"}],
        "relatedParty": [{"id": "456-dd-df45", "@referredType": "Individual"}],
    }


@dataclass
class Target:
    name: str
    collection: str = ""  # URL of the ResourceOrder collection
    list_query: str = "?state=acknowledged&limit=10"
    process: subprocess.Popen | None = None
    order_id: str = ""
    cleanup: list = field(default_factory=list)
    stored: int | None = None  # orders stored after the run

    def wait_ready(self, probe: str, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(probe, timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"{self.name} not ready at {probe}")

    def rss(self) -> list[tuple[str, float]]:
        """(role, MiB) for the server process and each child (workers)."""
        if not self.process:
            return []
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        result = []
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                result.append((process.name(), process.memory_info().rss / 2**20))
        return result

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, 15)
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(timeout=5)
            except ProcessLookupError:
                pass
        for step in reversed(self.cleanup):
            step()


def spawn(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_tmf(name: str, workdir: Path) -> Target:
    backend, workers = name.split("-")[1], int(name.split("-")[2])
    target = Target(name)
    port = free_port()
    if backend == "sqlite":
        database_url = f"sqlite:///{workdir / name}.db"
    else:
        database_url, drop = new_schema("bench")
        target.cleanup.append(drop)
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": database_url,
        "TMF_PUBLIC_BASE_URL": "",
        # WARNING: no per-request access line; BENCH_LOG_LEVEL=INFO measures with it (the production default).
        "TMF_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
    }
    template = os.environ.get("BENCH_SERVER_CMD")
    if template:
        command = shlex.split(template.format(workers=workers, port=port))
    else:
        command = [str(BIN / "tmfserver"), "serve", "--workers", str(workers)]
    target.process = spawn(command, env, workdir / f"{name}.log")
    origin = f"http://127.0.0.1:{port}"
    target.collection = f"{origin}{BASE}/resourceOrder"
    target.wait_ready(f"{target.collection}?limit=1")
    seed_tmf(target)
    return target


def seed_tmf(target: Target) -> None:
    def create(i: int) -> str:
        status, _headers, body = http("POST", target.collection, order_body(i))
        if status != 201:
            raise RuntimeError(f"{target.name}: seeding failed with {status}: {body[:300]!r}")
        return json.loads(body)["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(SEED)))
    target.order_id = ids[SEED // 2]


def stored_tmf(target: Target) -> int:
    _status, headers, _body = http("GET", f"{target.collection}?limit=1&fields=id")
    return int({k.lower(): v for k, v in headers.items()}["x-total-count"])


def seed_documents() -> list[dict]:
    """What this server stores for the seeded orders, for json-server's file."""
    documents = []
    for i in range(SEED):
        order_id = f"seed{i:06d}"
        body = order_body(i)
        body["orderItem"] = [{**item, "state": "acknowledged"} for item in body["orderItem"]]
        documents.append(
            {
                "id": order_id,
                "href": f"http://127.0.0.1{BASE}/resourceOrder/{order_id}",
                **body,
                "@type": "ResourceOrder",
                "orderDate": "2026-01-01T00:00:00.000Z",
                "state": "acknowledged",
            }
        )
    return documents


def start_json_server(workdir: Path) -> Target:
    target = Target("json-server", list_query="?state=acknowledged&_limit=10")
    database = workdir / "json-server-db.json"
    documents = seed_documents()
    database.write_text(json.dumps({"resourceOrder": documents}))
    port = free_port()
    command = [str(NODE_DIR / "node_modules/.bin/json-server"), "--host", "127.0.0.1", "--port", str(port)]
    target.process = spawn([*command, "--quiet", str(database)], {}, workdir / "json-server.log")
    target.collection = f"http://127.0.0.1:{port}/resourceOrder"
    target.wait_ready(f"{target.collection}?_limit=1")
    target.order_id = documents[SEED // 2]["id"]
    target.cleanup.append(lambda: None)
    target.database = database  # type: ignore[attr-defined]
    return target


def start_prism(workdir: Path) -> Target:
    target = Target("prism")
    port = free_port()
    command = [str(NODE_DIR / "node_modules/.bin/prism"), "mock", "-h", "127.0.0.1", "-p", str(port)]
    command += ["-v", "warn", str(REPO / "build/openapi/TMF652.json")]
    target.process = spawn(command, {}, workdir / "prism.log")
    # Prism serves a Swagger 2 document's paths without its basePath.
    target.collection = f"http://127.0.0.1:{port}/resourceOrder"
    target.wait_ready(f"{target.collection}?limit=1")
    target.order_id = "42"
    return target


LATENCY_RE = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, script: Path | None, seconds: int) -> dict:
    command = ["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s", "--latency"]
    # Prism enforces the documents' security schemes (any key passes); this server ignores the header
    # unless TMF_AUTH_MODE says otherwise.
    command += ["-H", "X-API-Key: bench"]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    latency = {p: float(v) * UNIT_MS[u] for p, v, u in LATENCY_RE.findall(output)}
    if not rate:
        raise RuntimeError(f"wrk output not understood:\n{output}")
    return {
        "rps": float(rate.group(1)),
        "requests": int(total.group(1)) if total else 0,
        "p50_ms": latency.get("50"),
        "p99_ms": latency.get("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


def scenario_url(target: Target, scenario: str) -> tuple[str, Path | None]:
    if scenario == "get":
        return f"{target.collection}/{target.order_id}", None
    if scenario == "list":
        return f"{target.collection}{target.list_query}", None
    return target.collection, LUA


def start(name: str, workdir: Path) -> Target:
    if name == "prism":
        return start_prism(workdir)
    if name == "json-server":
        return start_json_server(workdir)
    return start_tmf(name, workdir)


def check_tools() -> None:
    missing = [tool for tool in ("wrk",) if not shutil.which(tool)]
    for peer, binary in (("prism", "prism"), ("json-server", "json-server")):
        if peer in TARGETS and not (NODE_DIR / "node_modules/.bin" / binary).exists():
            missing.append(f"{NODE_DIR}/node_modules/.bin/{binary}")
    if missing:
        sys.exit(f"missing: {', '.join(missing)} (run `make bench`, which installs them)")


def main() -> None:
    check_tools()
    results: list[dict] = []
    memory: dict[str, list[tuple[str, float]]] = {}
    stored: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="tmf-bench-") as tmp:
        workdir = Path(tmp)
        for name in TARGETS:
            # Other work on the machine skews every number: say how busy it was.
            print(
                f"== {name}: starting and seeding {SEED} orders (load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            target = start(name, workdir)
            try:
                before = stored_tmf(target) if name.startswith("tmf-") else None
                for scenario in SCENARIOS:
                    url, script = scenario_url(target, scenario)
                    if WARMUP:
                        run_wrk(url, script, WARMUP)
                        if scenario == "create" and name.startswith("tmf-"):
                            before = stored_tmf(target)
                    result = run_wrk(url, script, DURATION)
                    result.update(target=name, scenario=scenario, load_average=round(os.getloadavg()[0], 1))
                    results.append(result)
                    print(
                        f"   {scenario:6} {result['rps']:9.0f} req/s  p50 {result['p50_ms']:.2f} ms  "
                        f"p99 {result['p99_ms']:.2f} ms  non-2xx {result['non2xx']}",
                        flush=True,
                    )
                    if scenario == "create" and before is not None:
                        created = stored_tmf(target) - before
                        ok = result["requests"] - result["non2xx"]
                        stored[name] = f"{created} stored for {ok} 201s"
                memory[name] = target.rss()
                if name == "json-server" and "create" in SCENARIOS:
                    time.sleep(1)
                    count = len(json.loads(target.database.read_text())["resourceOrder"])  # type: ignore
                    stored[name] = f"{count - SEED} in its file"
            finally:
                target.stop()
    report(results, memory, stored)


def report(results: list[dict], memory: dict, stored: dict) -> None:
    best_peer = {}
    for scenario in SCENARIOS:
        peers = [r["rps"] for r in results if r["scenario"] == scenario and r["target"] in PEERS]
        best_peer[scenario] = max(peers) if peers else None
    print(
        f"\nwrk -t{THREADS} -c{CONNECTIONS} -d{DURATION}s, {SEED} seeded orders, "
        f"{os.cpu_count()} CPUs; ratio = req/s / best peer's req/s\n"
    )
    header = (
        f"| {'target':12} | {'scenario':8} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'non-2xx':>7} |"
    )
    header += f" {'vs best peer':>12} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for scenario in SCENARIOS:
        for r in (r for r in results if r["scenario"] == scenario):
            peer = best_peer[scenario]
            ratio = f"{r['rps'] / peer:.2f}x" if peer else "-"
            r["ratio_vs_best_peer"] = r["rps"] / peer if peer else None
            print(
                f"| {r['target']:12} | {scenario:8} | {r['rps']:8.0f} | {r['p50_ms']:7.2f} |"
                f" {r['p99_ms']:7.2f} | {r['non2xx']:7d} | {ratio:>12} |"
            )
    print("\nRSS after the run (MiB, each process of the target):")
    for name, processes in memory.items():
        listing = ", ".join(f"{role} {mib:.0f}" for role, mib in processes)
        print(f"  {name:12} {listing}")
    if stored:
        print("\nCreates stored:")
        for name, text_ in stored.items():
            print(f"  {name:12} {text_}")
    JSON_OUT.parent.mkdir(parents=True, exist_ok=True)
    JSON_OUT.write_text(json.dumps({"results": results, "rss_mib": memory, "stored": stored}, indent=1))
    print(f"\nwritten {JSON_OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
