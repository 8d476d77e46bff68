# `make run` and `make test` set everything up themselves on a fresh machine (Python 3.11+).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
PORT ?= 8000
# uvicorn's C parser (in runtime/fastpath/http_protocol.py: a response's head and body in one write) and event
# loop, pinned in requirements.txt; bench/runtime.py starts the server the same way
UVICORN_SPEED := --loop uvloop --http runtime.fastpath.http_protocol:HttpToolsProtocol
HOST ?= 127.0.0.1

.PHONY: install run test lint bench bench-runtime bench-load

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# The URLs shown to clients follow the port `make run` serves on, unless PUBLIC_BASE_URL is set.
# The worker gets its own process group (set -m), so Ctrl+C or a signal to make's group does not
# also hit its pool processes (billiard can hang stopping a pool whose children died first); it
# gets one TERM when uvicorn exits, and make waits for its warm shutdown.
run: export PUBLIC_BASE_URL ?= http://127.0.0.1:$(PORT)
run: install
	@$(PY) manage.py migrate --noinput
	@$(PY) manage.py seed_demo
	@set -m; $(VENV)/bin/celery -A config worker --loglevel=INFO --concurrency=2 & worker=$$!; set +m; \
	  trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	  $(VENV)/bin/uvicorn config.asgi:application --host $(HOST) --port $(PORT) --proxy-headers --forwarded-allow-ips '$(TRUSTED_PROXIES)' $(UVICORN_SPEED)

test: install
	@$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy config oauth servers runtime terraform
	@$(VENV)/bin/lint-imports

bench: install
	@$(PY) bench/catalog.py

# The MCP runtime against FastMCP's OpenAPI proxy (creates .venv-bench for fastmcp on first use).
bench-runtime: install
	@$(PY) bench/runtime.py $(BENCH_ARGS)

# 200 concurrent management and tool calls with a SIGTERM and restart, on a throwaway PostgreSQL
# database (needs DATABASE_URL=postgres://…): 5xx, peak database connections, lost audit events.
bench-load: install
	@$(PY) bench/load.py $(BENCH_ARGS)
