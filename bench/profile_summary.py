"""Summarise py-spy profiles written by `BENCH_PROFILE=dir bench/http_bench.py` (collapsed stacks, `--format raw
--nolineno --full-filenames`).

    .venv/bin/python bench/profile_summary.py build/bench/profiles/*.txt [--json build/bench/http_bench.json]

The profiles sample only the thread holding the GIL (`--gil`; without it the server's idle anyio worker
threads, waiting in Condition.wait, count as busy). A thread holds the GIL also while the OS has it waiting
for a CPU, so on a busy machine samples measure time holding the GIL, not CPU time: use the shares, not the
sample counts. Per profile, the share of samples:
- by layer (LAYERS below: the layer of the innermost frame that names one; the server's background threads
  apart), comparable between this server and the minimal app;
- by owner: the innermost frame that is not the standard library, so `re`, `json` or `threading` count for
  whoever called them (Connexion, SQLAlchemy, a module of this server, ...);
- with a frame of each owner anywhere in the stack;
- the top functions, inclusive (with what they call) and self.
With the run's JSON (BENCH_JSON of the same run) each share is also given as an estimate in CPU ms per
request: share x that run's CPU ms/request. That spreads the work done without the GIL (SQLite's C code, the
kernel's socket work) over the Python frames: a rough guide, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import re
import sysconfig
from collections import Counter
from pathlib import Path

STDLIB = sysconfig.get_paths()["stdlib"]
FRAME_RE = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*)\)$")

# Samples with one of these anywhere in the stack: work outside the requests.
BACKGROUND = ("/tmfserver/notify/", "/tmfserver/services/background.py")
# (path fragment, layer); a sample belongs to the layer of its innermost frame matching a fragment, the first
# matching fragment of that frame winning.
LAYERS = (
    ("/sqlalchemy/", "SQLAlchemy (and the sqlite3/psycopg calls under it)"),
    ("/tmfserver/web/validation.py", "request validation (parameters, body; jsonschema)"),
    ("/connexion/validators/", "request validation (parameters, body; jsonschema)"),
    ("/jsonschema/", "request validation (parameters, body; jsonschema)"),
    ("/referencing/", "request validation (parameters, body; jsonschema)"),
    ("/tmfserver/web/", "this server's middleware and response helpers"),
    ("/prometheus_client/", "this server's middleware and response helpers"),
    ("/pythonjsonlogger/", "this server's middleware and response helpers"),
    ("/tmfserver/", "handler: this server's api/services/store/query code"),
    ("minimal_app.py", "handler: the minimal app's code"),
    ("/connexion/decorators/response.py", "Connexion response serialisation"),
    ("/connexion/jsonifier.py", "Connexion response serialisation"),
    ("/connexion/decorators/", "Connexion handler decorators (arguments)"),
    ("/connexion/middleware/security.py", "Connexion security"),
    ("/connexion/security.py", "Connexion security"),
    ("/starlette/routing.py", "routing (Starlette routers, Connexion routing, Swagger UI mount)"),
    ("/connexion/middleware/routing.py", "routing (Starlette routers, Connexion routing, Swagger UI mount)"),
    ("/connexion/middleware/swagger_ui.py", "routing (Starlette routers, Connexion routing, Swagger UI mount)"),
    ("/anyio/", "sync handler hand-off to a worker thread (anyio)"),
    ("/starlette/concurrency.py", "sync handler hand-off to a worker thread (anyio)"),
    ("/werkzeug/", "Connexion request context (werkzeug proxies)"),
    ("/connexion/", "Connexion, other (middleware stack, request objects, context)"),
    ("/starlette/", "Starlette, other (exception middleware, responses)"),
    ("/uvicorn/", "HTTP server (uvicorn, httptools)"),
)


def layer(frames: list[str]) -> str:
    files = [found["file"] if (found := FRAME_RE.match(frame)) else "" for frame in frames]
    if any(fragment in path for path in files for fragment in BACKGROUND):
        return "background threads (event dispatcher, scheduler)"
    for path in reversed(files):
        for fragment, name in LAYERS:
            if fragment in path:
                return name
    return "other"


def owner(path: str) -> str | None:
    """A frame's package, or None for the standard library."""
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/src/tmfserver/" in path:
        return "tmfserver/" + path.split("/src/tmfserver/", 1)[1]
    if path.endswith("bench/minimal_app.py"):
        return "minimal_app"
    if path.startswith(STDLIB) or "/lib/python3" in path:
        return None
    return Path(path).name


def short(frame: str) -> str:
    found = FRAME_RE.match(frame)
    if not found:
        return frame
    path = found["file"]
    for marker in ("/site-packages/", "/src/", "/lib/python3.11/", "/bench/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{found['function']} ({path})"


def read(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        stacks.append((frames, int(count)))
    return stacks


def summarise(path: Path, run: dict | None, top: int) -> None:
    stacks = read(path)
    total = sum(count for _frames, count in stacks)
    cpu_ms = run.get("cpu_ms_per_request") if run else None
    heading = f"\n## {path.name}: {total} samples"
    if cpu_ms:
        heading += f"; ms = share x the run's {cpu_ms:.2f} CPU ms/request ({run['requests']} requests)"
    print(heading)
    if not total:
        return
    owners: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        layers[layer(frames)] += count
        for frame in reversed(frames):
            found = FRAME_RE.match(frame)
            name = owner(found["file"]) if found else None
            if name:
                owners[name] += count
                break
        else:
            owners["(standard library only)"] += count
        for frame in set(frames):
            inclusive[short(frame)] += count
        for name in {owner(found["file"]) for found in map(FRAME_RE.match, frames) if found} - {None}:
            anywhere[name] += count  # type: ignore[index]
        if frames:
            own[short(frames[-1])] += count

    def line(label: str, count: int) -> str:
        ms = f" {count / total * cpu_ms:6.3f} ms" if cpu_ms else ""
        return f"  {count / total * 100:5.1f}%{ms}  {label}"

    print("by layer:")
    for name, count in layers.most_common():
        print(line(name, count))
    print("by owner (innermost non-stdlib frame):")
    for name, count in owners.most_common(top):
        print(line(name, count))
    print("owner anywhere in the stack:")
    for name, count in anywhere.most_common(top):
        print(line(name, count))
    print("inclusive (a function and what it calls):")
    for name, count in inclusive.most_common(top):
        print(line(name, count))
    print("self (the sampled frame itself):")
    for name, count in own.most_common(top):
        print(line(name, count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, help="the run's BENCH_JSON, to estimate shares in ms/request")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    runs: dict[str, dict] = {}
    if args.json:
        for result in json.loads(args.json.read_text())["results"]:
            runs[f"{result['target']}-{result['scenario']}"] = result
    for path in args.profiles:
        summarise(path, runs.get(path.stem), args.top)


if __name__ == "__main__":
    main()
