# criptopipe: every task is one command. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup run dev dashboard stop test lint typecheck bench clean

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,dashboard,embedded]'
	@touch $@

setup: $(STAMP) ## create .venv and install everything (done by every other target)
	@bash scripts/ensure-system-deps.sh

run: setup ## the main job: 30 days of history + today's snapshots (sandbox if no COINCAP_API_KEY)
	$(PY) -m criptopipe.cli run

dev: setup ## the Dagster UI + daemon on http://localhost:3000 (same configuration as `make run`)
	$(PY) -m criptopipe.cli dev

dashboard: setup ## the Streamlit dashboard on http://localhost:8501
	$(PY) -m criptopipe.cli dashboard

stop: ## stop the local PostgreSQL, MongoDB and sandbox started by run/dev
	@test -x $(PY) && $(PY) -m criptopipe.cli stop || echo "nothing to stop"

lint: setup ## ruff lint + format check
	$(VENV)/bin/ruff check criptopipe criptopipe_tests benchmarks
	$(VENV)/bin/ruff format --check criptopipe criptopipe_tests benchmarks

typecheck: setup ## mypy over the package
	$(VENV)/bin/mypy criptopipe

test: setup lint typecheck ## the whole suite on real servers (what CI runs)
	$(VENV)/bin/pytest

bench: setup ## the benchmarks behind the README's figures (several minutes)
	$(PY) benchmarks/coincap_costs.py
	$(PY) benchmarks/storage_bench.py
	$(PY) benchmarks/write_lease_bench.py
	$(PY) benchmarks/bad_config.py
	$(PY) benchmarks/backfill_bench.py
	$(PY) benchmarks/dashboard_render.py

clean: stop ## remove local data, the venv and caches
	rm -rf .criptopipe $(VENV) .pytest_cache .mypy_cache .ruff_cache
