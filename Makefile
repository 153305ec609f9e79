# Front door for humans and CI. `make run` serves on SQLite; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_DIR := build/node
NEWMAN := $(NODE_DIR)/node_modules/.bin/newman
NEWMAN_VERSION := 6.2.2
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: setup openapi spec-upgrade spec-diff migrate config run serve-prod test test-fast test-sqlite test-postgresql ctk fuzz lint bench bench-query bench-events bench-pg-ceiling clean
.PHONY: ui-deps ui-check

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## Fetch the pinned official documents, check their sha256, apply openapi/patches, validate.
openapi: setup
	$(BIN)/tmfserver openapi

## Pin a new version of an official document beside the existing pins, build and validate it, and print the
## review report: make spec-upgrade API=TMF663 VERSION=5.0.0 SOURCE=<file or URL> [URL=<official URL>]
spec-upgrade: setup
	@test -n "$(API)" -a -n "$(VERSION)" -a -n "$(SOURCE)" || { echo "usage: make spec-upgrade API=TMF663 VERSION=5.0.0 SOURCE=<file or URL> [URL=...]"; exit 2; }
	$(BIN)/tmfserver spec-upgrade --api '$(API)' --version '$(VERSION)' --source '$(SOURCE)' $(if $(URL),--url '$(URL)')

## The same report for two pinned documents: make spec-diff OLD=TMF663@4.0.0 NEW=TMF663@5.0.0
spec-diff: setup
	$(BIN)/tmfserver spec-diff '$(OLD)' '$(NEW)'

migrate: setup
	$(BIN)/tmfserver migrate

## Validate the settings (environment + .env) and print them, secrets masked.
config: setup
	$(BIN)/tmfserver check-config

## Serve on http://$${HOST:-127.0.0.1}:$${PORT:-8080} (SQLite under ./var unless DATABASE_URL says otherwise).
run: openapi
	$(BIN)/tmfserver serve

## Production: WORKERS (default 2) uvicorn worker processes on PostgreSQL (DATABASE_URL, default PG_URL).
## Each process runs the dispatcher and the cancellation scheduler; both claim work with SKIP LOCKED.
serve-prod: openapi
	DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} TMF_LOG_LEVEL=$${TMF_LOG_LEVEL:-WARNING} \
		$(BIN)/tmfserver serve --workers $${WORKERS:-2}

## ruff, and the layer contracts of pyproject.toml [tool.importlinter] (docs/development.md "Architecture").
lint: setup
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/ruff format --check src tests migrations bench
	$(BIN)/lint-imports

## Inner loop, under a minute: tests/unit, e2e, integration and ui on SQLite, in-process only. Leaves out the
## `live` tests (a server or CLI process, a socket server, a browser: tests/conftest.py marks them by their code),
## the `slow` ones (Hypothesis properties and the biggest matrices, listed in tests/conftest.py), tests/conformance
## (Schemathesis), PostgreSQL and newman: `make test` runs all of those. No `openapi` prerequisite: the tests build
## the served documents themselves when they are missing or stale.
test-fast: setup
	$(BIN)/pytest --db=sqlite -m "not live and not slow" tests/unit tests/e2e tests/integration tests/ui

test-sqlite: openapi ui-deps
	$(BIN)/pytest --db=sqlite

## PostgreSQL run: fails when CI=true and the server is unreachable, otherwise says so and skips.
test-postgresql: openapi ui-deps
	@if DATABASE_URL='$(PG_URL)' $(BIN)/tmfserver check-config --connect >/dev/null 2>&1; then \
		TMF_TEST_PG_URL='$(PG_URL)' $(BIN)/pytest --db=postgresql; \
	elif [ "$$CI" = "true" ]; then \
		echo "ERROR: PostgreSQL is not reachable at $(PG_URL) (CI=true requires it)"; exit 1; \
	else \
		echo "NOTE: PostgreSQL is not reachable at $(PG_URL): PostgreSQL tests NOT run"; \
	fi

## Debian's Chromium for the Swagger UI browser tests (tests/ui): Playwright (dev extras) drives it and never
## downloads a browser. Installed with apt-get when missing (about 15 s); with CI=true it must install,
## elsewhere a failed install is a note and those tests skip.
ui-deps: setup
	@command -v chromium >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null 2>&1 \
		|| (apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null 2>&1) \
		|| if [ "$$CI" = "true" ]; then echo "ERROR: chromium is missing and could not be installed (apt-get install -y chromium)"; exit 1; \
		else echo "NOTE: chromium is missing and could not be installed: Swagger UI browser tests NOT run"; fi

## Only the Swagger UI tests: each API's <base>/ui/ in headless Chromium, "Try it out" against a live server.
ui-check: openapi ui-deps
	$(BIN)/pytest --db=sqlite tests/ui

$(NEWMAN):
	mkdir -p $(NODE_DIR)
	cd $(NODE_DIR) && npm install --silent --no-audit --no-fund newman@$(NEWMAN_VERSION) >/dev/null

## TM Forum's conformance kits (official TMF663, ours for TMF652) with newman against a live server.
ctk: openapi $(NEWMAN)
	NEWMAN=$(abspath $(NEWMAN)) $(BIN)/python -m tests.conformance.ctk_run

test: lint test-sqlite test-postgresql ctk

## Long Schemathesis run (FUZZ_SECONDS per API).
fuzz: openapi
	TMF_FUZZ_SECONDS=$${FUZZ_SECONDS:-300} $(BIN)/pytest tests/conformance/test_schemathesis.py -p no:randomly

BENCH_NODE_DIR := build/bench-node
PRISM_VERSION := 5.16.0
JSON_SERVER_VERSION := 0.17.4

## HTTP benchmark (bench/README.md "HTTP benchmark"): wrk against this server, the minimum Connexion app
## (bench/minimal_app.py), Prism and json-server. BENCH_DURATION=3 make bench for a short run. PostgreSQL at
## BENCH_PG_URL (default PG_URL) and the Node.js peers are optional: missing ones are skipped with a line saying so.
bench: openapi
	@command -v wrk >/dev/null || apt-get install -y wrk >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y wrk >/dev/null) \
		|| { echo "ERROR: wrk is missing and could not be installed (apt-get install -y wrk)"; exit 1; }
	@test -x $(BENCH_NODE_DIR)/node_modules/.bin/prism -a -x $(BENCH_NODE_DIR)/node_modules/.bin/json-server || \
		{ command -v npm >/dev/null && mkdir -p $(BENCH_NODE_DIR) && cd $(BENCH_NODE_DIR) && (test -f package.json || echo '{"private":true}' > package.json) \
		&& npm install --silent --no-audit --no-fund @stoplight/prism-cli@$(PRISM_VERSION) json-server@$(JSON_SERVER_VERSION) >/dev/null; } \
		|| echo "NOTE: Prism/json-server could not be installed with npm into $(BENCH_NODE_DIR): the peers are skipped"
	@$(BIN)/python -c 'import psutil' 2>/dev/null || $(BIN)/pip install -q psutil
	BENCH_PG_URL=$${BENCH_PG_URL:-$(PG_URL)} $(BIN)/python bench/http_bench.py

bench-query: openapi
	$(BIN)/python bench/query_bench.py

bench-events: openapi
	$(BIN)/python bench/events_bench.py

## PostgreSQL's own ceiling for a create: the server's statements replayed by pgbench (bench/README.md).
bench-pg-ceiling: openapi
	BENCH_PG_URL=$${BENCH_PG_URL:-$(PG_URL)} $(BIN)/python bench/pg_create_ceiling.py

clean:
	rm -rf build var .hypothesis .schemathesis
