# `make run` and `make test` set everything up themselves on a fresh machine (Python 3.11+).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
PORT ?= 8000

.PHONY: install run test lint bench

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
	@$(PY) manage.py migrate --noinput
	@$(PY) manage.py seed_demo
	@$(VENV)/bin/celery -A config worker --loglevel=INFO --concurrency=2 & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(VENV)/bin/uvicorn config.asgi:application --host $${HOST:-127.0.0.1} --port $(PORT) --proxy-headers

test: install
	@$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy config oauth servers runtime terraform

bench: install
	@$(PY) bench/catalog.py
