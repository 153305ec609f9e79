"""HTTP benchmark: this server (SQLite 1 process, PostgreSQL 1 and N processes) against two peers and
against the minimum Connexion app.

Peers, in the same run and with the same requests:
- Stoplight Prism mocking build/openapi/TMF652.json (validates requests, stores nothing);
- json-server serving the same records from a JSON file it rewrites on every create (a persistent stub).
The minimum app (bench/minimal_app.py; targets minimal-1 and minimal-2 = 1 and 2 uvicorn worker processes):
a plain Connexion AsyncApp on the same document with the server's validation settings and async handlers
doing one SQLite statement each; the floor of what this server could reach on Connexion. minimal-pg-1 and
minimal-pg-2: the same app doing the same statements on PostgreSQL (psycopg async), the ceiling of the
tmf-pg targets on this machine, where the database server shares the CPUs with everything else.

Scenarios (wrk, 127.0.0.1 only, bounded runs): GET one order by id, a filtered list
(`?state=acknowledged&limit=10`; json-server `?state=acknowledged&_limit=10`), POST create
(bench/post_order.lua).
Prints req/s, p50, p99, non-2xx, server CPU ms per request, the RSS of each server process after the run, the
ratio of req/s to the best peer and to the minimum app (1-process targets to minimal-1, more processes to
minimal-2: the issue's baseline), the ratio of CPU per request to that minimum app's, and the ratio of req/s
to the minimum app on the same database with the same processes ("vs db min": tmf-pg-N to minimal-pg-N).
CPU per request: utime+stime of the
target's whole process tree (psutil, from /proc), read before and after each measured wrk run, divided by the
requests wrk completed in it. Targets that cannot run here (PostgreSQL unreachable, a peer not installed, a
server that does not start) are skipped with a line saying why.

Run with `make bench` (installs wrk and the pinned peers). Environment overrides:
  BENCH_DURATION=10 BENCH_CONNECTIONS=32 BENCH_THREADS=2 BENCH_SEED=1000 BENCH_WARMUP=2
  BENCH_TARGETS=tmf-sqlite-1,tmf-pg-1,tmf-pg-2,minimal-1,minimal-2,minimal-pg-1,minimal-pg-2,prism,json-server
  (any tmf-sqlite-N, tmf-pg-N, minimal-N, minimal-pg-N)
  BENCH_MINIMAL_SYNCHRONOUS=FULL (the minimum app's SQLite PRAGMA synchronous; FULL is the server's default,
  TMF_SQLITE_SYNCHRONOUS)
  BENCH_SCENARIOS=get,list,create   BENCH_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test
  BENCH_NODE_DIR=build/bench-node   BENCH_JSON=build/bench/http_bench.json   BENCH_LOG_LEVEL=WARNING
  BENCH_PROFILE=build/bench/profiles: py-spy (`pip install py-spy`) records each Python target (tmf-*,
  minimal-*) during each measured run into <dir>/<target>-<scenario>.txt (collapsed stacks; summarise them with
  bench/profile_summary.py); the sampler shares the CPUs, so such a run's figures are not comparable.
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
import sqlite3
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
from pg_schema import PG_URL, new_schema

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
DEFAULT_TARGETS = (
    "tmf-sqlite-1,tmf-pg-1,tmf-pg-2,minimal-1,minimal-2,minimal-pg-1,minimal-pg-2,prism,json-server"
)
TARGETS = [t.strip() for t in os.environ.get("BENCH_TARGETS", DEFAULT_TARGETS).split(",") if t.strip()]
SCENARIOS = os.environ.get("BENCH_SCENARIOS", "get,list,create").split(",")
PEERS = ("prism", "json-server")
TARGET_RE = re.compile(r"^(tmf-(sqlite|pg)|minimal|minimal-pg)-([1-9]\d*)$")
MINIMAL_SYNCHRONOUS = os.environ.get("BENCH_MINIMAL_SYNCHRONOUS", "FULL").upper()
PROFILE_DIR = REPO / os.environ["BENCH_PROFILE"] if os.environ.get("BENCH_PROFILE") else None
PROFILE_RATE = 100  # samples per second (py-spy's default)
PY_SPY = shutil.which("py-spy", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def processes_of(name: str) -> int:
    """Worker processes of a target (the peers are one process each)."""
    found = TARGET_RE.match(name)
    return int(found.group(3)) if found else 1


def minimal_for(name: str) -> str:
    """The minimum app a target is compared with: minimal-N when it has N processes, else minimal-1 for one
    process and minimal-2 for more."""
    n = processes_of(name)
    return f"minimal-{n}" if f"minimal-{n}" in TARGETS else ("minimal-1" if n == 1 else "minimal-2")


def database_minimal_for(name: str) -> str:
    """The minimum app on the same database with the same processes: minimal-pg-N for tmf-pg-N and
    minimal-pg-N, minimal-N for the others."""
    n = processes_of(name)
    return f"minimal-pg-{n}" if on_postgresql(name) else f"minimal-{n}"


def on_postgresql(name: str) -> bool:
    return name.startswith(("tmf-pg-", "minimal-pg-"))


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
    log: Path | None = None
    database: Path | None = None  # json-server's file, the minimum app's SQLite file
    database_url: str = ""  # the PostgreSQL schema of a minimal-pg target (SQLAlchemy URL)

    def processes(self) -> list[psutil.Process]:
        """The server process and its descendants (uvicorn workers, multiprocessing helpers)."""
        if not self.process:
            return []
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> dict[int, float]:
        """utime + stime (seconds) of each live process of the tree, by pid."""
        result = {}
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                result[process.pid] = times.user + times.system
        return result

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
        result = []
        for process in self.processes():
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


def start_tmf(target: Target, workdir: Path) -> None:
    name = target.name
    backend, workers = name.split("-")[1], int(name.split("-")[2])
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
    target.log = workdir / f"{name}.log"
    target.process = spawn(command, env, target.log)
    origin = f"http://127.0.0.1:{port}"
    target.collection = f"{origin}{BASE}/resourceOrder"
    target.wait_ready(f"{target.collection}?limit=1")
    seed_tmf(target)


def start_minimal(target: Target, workdir: Path) -> None:
    workers = processes_of(target.name)
    port = free_port()
    command = [sys.executable, str(REPO / "bench" / "minimal_app.py")]
    if on_postgresql(target.name):
        target.database_url, drop = new_schema("bench_minimal")
        target.cleanup.append(drop)
        command += ["--pg", target.database_url.replace("postgresql+psycopg://", "postgresql://", 1)]
    else:
        target.database = workdir / f"{target.name}.db"
        command += ["--db", str(target.database)]
    command += ["--port", str(port), "--workers", str(workers)]
    target.log = workdir / f"{target.name}.log"
    target.process = spawn(command, {"BENCH_MINIMAL_SYNCHRONOUS": MINIMAL_SYNCHRONOUS}, target.log)
    target.collection = f"http://127.0.0.1:{port}{BASE}/resourceOrder"
    target.wait_ready(f"{target.collection}?limit=1")
    seed_tmf(target)  # the same POSTs as for this server


def stored_minimal(target: Target) -> int:
    if target.database_url:
        from sqlalchemy import create_engine, text

        engine = create_engine(target.database_url)
        try:
            with engine.connect() as connection:
                return connection.scalar(text("SELECT count(*) FROM resource_order"))
        finally:
            engine.dispose()
    with contextlib.closing(sqlite3.connect(target.database)) as connection:
        return connection.execute("SELECT count(*) FROM resource_order").fetchone()[0]


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


def start_json_server(target: Target, workdir: Path) -> None:
    target.list_query = "?state=acknowledged&_limit=10"
    database = workdir / "json-server-db.json"
    documents = seed_documents()
    database.write_text(json.dumps({"resourceOrder": documents}))
    port = free_port()
    command = [str(NODE_DIR / "node_modules/.bin/json-server"), "--host", "127.0.0.1", "--port", str(port)]
    target.log = workdir / "json-server.log"
    target.process = spawn([*command, "--quiet", str(database)], {}, target.log)
    target.collection = f"http://127.0.0.1:{port}/resourceOrder"
    target.wait_ready(f"{target.collection}?_limit=1")
    target.order_id = documents[SEED // 2]["id"]
    target.database = database


def start_prism(target: Target, workdir: Path) -> None:
    port = free_port()
    command = [str(NODE_DIR / "node_modules/.bin/prism"), "mock", "-h", "127.0.0.1", "-p", str(port)]
    command += ["-v", "warn", str(REPO / "build/openapi/TMF652.json")]
    target.log = workdir / "prism.log"
    target.process = spawn(command, {}, target.log)
    # Prism serves a Swagger 2 document's paths without its basePath.
    target.collection = f"http://127.0.0.1:{port}/resourceOrder"
    target.wait_ready(f"{target.collection}?limit=1")
    target.order_id = "42"


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
    """The target running and seeded; on any failure its processes are stopped and the error re-raised."""
    target = Target(name)
    try:
        if name == "prism":
            start_prism(target, workdir)
        elif name == "json-server":
            start_json_server(target, workdir)
        elif name.startswith("minimal-"):
            start_minimal(target, workdir)
        else:
            start_tmf(target, workdir)
    except BaseException:
        target.stop()
        raise
    return target


def stored_count(target: Target) -> int | None:
    if target.name.startswith("tmf-"):
        return stored_tmf(target)
    if target.name.startswith("minimal-"):
        return stored_minimal(target)
    return None


def postgresql_problem() -> str | None:
    """Why PostgreSQL at BENCH_PG_URL cannot be used, or None."""
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any driver or connection error: the reason is printed
        return str(exc).strip().splitlines()[0][:200]
    finally:
        engine.dispose()
    return None


def unavailable(targets: list[str]) -> dict[str, str]:
    """Targets that cannot run on this machine, with the reason."""
    reasons = {}
    for name in targets:
        if name not in PEERS and not TARGET_RE.match(name):
            known = "tmf-sqlite-N, tmf-pg-N, minimal-N, minimal-pg-N, prism, json-server"
            reasons[name] = f"unknown target ({known})"
    pg = [name for name in targets if on_postgresql(name) and name not in reasons]
    problem = postgresql_problem() if pg else None
    for name in pg if problem else []:
        reasons[name] = f"PostgreSQL not reachable at {PG_URL} ({problem})"
    for peer in PEERS:
        binary = NODE_DIR / "node_modules/.bin" / peer
        if peer in targets and not shutil.which("node"):
            reasons[peer] = "node is not installed"
        elif peer in targets and not binary.exists():
            reasons[peer] = f"{binary.relative_to(REPO)} is missing (`make bench` installs it with npm)"
    return reasons


def check_tools() -> None:
    if not shutil.which("wrk"):
        sys.exit("missing: wrk (run `make bench`, which installs it: apt-get install -y wrk)")


def measure(target: Target, scenario: str) -> tuple[dict, int | None]:
    """One warm-up and one measured wrk run; CPU of the target's process tree around the measured one.
    Also the number of orders stored before the measured run of `create` (None otherwise, and for peers)."""
    url, script = scenario_url(target, scenario)
    if WARMUP:
        run_wrk(url, script, WARMUP)
    stored_before = stored_count(target) if scenario == "create" else None
    profiler = start_profiler(target, scenario)
    before = target.cpu_seconds()
    result = run_wrk(url, script, DURATION)
    after = target.cpu_seconds()
    if profiler:
        try:
            profiler.wait(timeout=30)  # it stops by itself after DURATION seconds
        except subprocess.TimeoutExpired:
            profiler.kill()
            profiler.wait(timeout=5)
    # A process that appeared during the run (a restarted worker) counts whole; one that ended is lost.
    cpu = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
    result.update(
        target=target.name,
        scenario=scenario,
        cpu_seconds=round(cpu, 3),
        cpu_ms_per_request=cpu * 1000 / result["requests"] if result["requests"] else None,
        rss_mib=[(role, round(mib, 1)) for role, mib in target.rss()],
        load_average=round(os.getloadavg()[0], 1),
    )
    return result, stored_before


def start_profiler(target: Target, scenario: str) -> subprocess.Popen | None:
    """py-spy sampling the target's process tree for the measured run (BENCH_PROFILE), or None."""
    if not PROFILE_DIR or not PY_SPY or not target.process or target.name in PEERS:
        return None
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    output = PROFILE_DIR / f"{target.name}-{scenario}.txt"
    # --gil: only the thread holding the GIL is sampled, so threads waiting (anyio's idle worker threads, the
    # dispatcher) are not counted as work; C code that released the GIL (SQLite's own work) is not seen.
    command = [PY_SPY, "record", "--pid", str(target.process.pid), "--subprocesses", "--gil"]
    command += ["--rate", str(PROFILE_RATE), "--format", "raw", "--nolineno", "--full-filenames"]
    command += ["--duration", str(DURATION)]
    with (PROFILE_DIR / f"{target.name}-{scenario}.log").open("wb") as log:
        return subprocess.Popen([*command, "--output", str(output)], stdout=log, stderr=subprocess.STDOUT)


def main() -> None:
    check_tools()
    if PROFILE_DIR and not PY_SPY:
        print("NOTE: BENCH_PROFILE is set but py-spy is not installed (pip install py-spy): no profiles")
    skipped = unavailable(TARGETS)
    for name, reason in skipped.items():
        print(f"SKIP {name}: {reason}", flush=True)
    results: list[dict] = []
    memory: dict[str, list[tuple[str, float]]] = {}
    stored: dict[str, str] = {}
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tmf-bench-") as tmp:
        workdir = Path(tmp)
        for name in (name for name in TARGETS if name not in skipped):
            # Other work on the machine skews every number: say how busy it was.
            print(
                f"== {name}: starting and seeding {SEED} orders (load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            try:
                target = start(name, workdir)
            except Exception as exc:
                skipped[name] = f"did not start: {exc}"
                print(f"SKIP {name}: {skipped[name]}", flush=True)
                log = workdir / f"{name}.log"
                if log.exists():
                    print("   " + "\n   ".join(log.read_text(errors="replace").splitlines()[-5:]), flush=True)
                continue
            try:
                for scenario in SCENARIOS:
                    result, before = measure(target, scenario)
                    results.append(result)
                    cpu = result["cpu_ms_per_request"]
                    print(
                        f"   {scenario:6} {result['rps']:9.0f} req/s  p50 {result['p50_ms']:.2f} ms  "
                        f"p99 {result['p99_ms']:.2f} ms  non-2xx {result['non2xx']}  "
                        f"CPU {cpu if cpu is not None else float('nan'):.2f} ms/req  "
                        f"RSS {rss_text(result['rss_mib'])} MiB",
                        flush=True,
                    )
                    if before is not None:
                        created = stored_count(target) - before  # type: ignore[operator]
                        ok = result["requests"] - result["non2xx"]
                        stored[name] = f"{created} stored for {ok} 201s"
                memory[name] = target.rss()
                if name == "json-server" and "create" in SCENARIOS:
                    time.sleep(1)
                    count = len(json.loads(target.database.read_text())["resourceOrder"])  # type: ignore
                    stored[name] = f"{count - SEED} in its file"
            finally:
                target.stop()
    report(results, memory, stored, skipped, load_start)


def rss_text(processes: list[tuple[str, float]]) -> str:
    return "+".join(f"{mib:.0f}" for _role, mib in processes) or "-"


def _ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None


def _cell(value: float | None, width: int, suffix: str = "x", digits: int = 2) -> str:
    return f"{value:.{digits}f}{suffix}".rjust(width) if value is not None else "-".rjust(width)


def report(results: list[dict], memory: dict, stored: dict, skipped: dict, load_start: tuple) -> None:
    best_peer = {}
    for scenario in SCENARIOS:
        peers = [r["rps"] for r in results if r["scenario"] == scenario and r["target"] in PEERS]
        best_peer[scenario] = max(peers) if peers else None
    by_key = {(r["target"], r["scenario"]): r for r in results}
    for r in results:
        base_name = minimal_for(r["target"])
        base = by_key.get((base_name, r["scenario"]))
        r["ratio_vs_best_peer"] = _ratio(r["rps"], best_peer[r["scenario"]])
        r["minimal_baseline"] = base_name if base else None
        r["ratio_vs_minimal"] = _ratio(r["rps"], base["rps"]) if base else None
        r["cpu_ratio_vs_minimal"] = (
            _ratio(r["cpu_ms_per_request"], base["cpu_ms_per_request"]) if base else None
        )
        same_database = by_key.get((database_minimal_for(r["target"]), r["scenario"]))
        r["ratio_vs_database_minimal"] = _ratio(r["rps"], same_database["rps"]) if same_database else None
    load_end = os.getloadavg()
    print(
        f"\nwrk -t{THREADS} -c{CONNECTIONS} -d{DURATION}s, {SEED} seeded orders, {os.cpu_count()} CPUs, "
        f"load average {load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end; minimum app "
        f"PRAGMA synchronous={MINIMAL_SYNCHRONOUS}\n"
        "CPU ms/req = server process tree utime+stime / completed requests; RSS = MiB per process after the "
        "run;\nvs peer = req/s / best peer's; vs min = req/s / minimal-1's (1 process) or minimal-2's "
        "(more); CPU vs min = CPU ms/req / the minimum app's;\nvs db min = req/s / the minimum app's on "
        "the same database with as many processes (tmf-pg-N: minimal-pg-N)\n"
    )
    columns = [
        ("target", 12, "<"),
        ("scenario", 8, "<"),
        ("req/s", 7, ">"),
        ("p50 ms", 7, ">"),
        ("p99 ms", 7, ">"),
        ("non-2xx", 7, ">"),
        ("CPU ms/req", 10, ">"),
        ("RSS MiB", 14, ">"),
        ("vs peer", 7, ">"),
        ("vs min", 6, ">"),
        ("CPU vs min", 10, ">"),
        ("vs db min", 9, ">"),
    ]
    print("| " + " | ".join(f"{title:{align}{width}}" for title, width, align in columns) + " |")
    print("|" + "|".join("-" * (width + 2) for _title, width, _align in columns) + "|")
    for scenario in SCENARIOS:
        for r in (r for r in results if r["scenario"] == scenario):
            cells = [
                f"{r['target']:12}",
                f"{scenario:8}",
                f"{r['rps']:7.0f}",
                _cell(r["p50_ms"], 7, ""),
                _cell(r["p99_ms"], 7, ""),
                f"{r['non2xx']:7d}",
                _cell(r["cpu_ms_per_request"], 10, ""),
                rss_text(r["rss_mib"]).rjust(14),
                _cell(r["ratio_vs_best_peer"], 7),
                _cell(r["ratio_vs_minimal"], 6),
                _cell(r["cpu_ratio_vs_minimal"], 10),
                _cell(r["ratio_vs_database_minimal"], 9),
            ]
            print("| " + " | ".join(cells) + " |")
    print("\nRSS after the run (MiB, each process of the target):")
    for name, processes in memory.items():
        listing = ", ".join(f"{role} {mib:.0f}" for role, mib in processes)
        print(f"  {name:12} {listing}")
    if stored:
        print("\nCreates stored:")
        for name, text_ in stored.items():
            print(f"  {name:12} {text_}")
    if skipped:
        print("\nSkipped:")
        for name, reason in skipped.items():
            print(f"  {name:12} {reason}")
    JSON_OUT.parent.mkdir(parents=True, exist_ok=True)
    facts = {
        "duration_s": DURATION,
        "connections": CONNECTIONS,
        "threads": THREADS,
        "seed": SEED,
        "cpus": os.cpu_count(),
        "load_average_start": list(load_start),
        "load_average_end": list(load_end),
        "minimal_synchronous": MINIMAL_SYNCHRONOUS,
    }
    output = {"run": facts, "results": results, "rss_mib": memory, "stored": stored, "skipped": skipped}
    JSON_OUT.write_text(json.dumps(output, indent=1))
    print(f"\nwritten {JSON_OUT.relative_to(REPO) if JSON_OUT.is_relative_to(REPO) else JSON_OUT}")


if __name__ == "__main__":
    main()
