# criptopipe: every task is one command. `make help` lists them.
#
# Installs come from uv.lock with uv (installed with pip into .tools/ when it is not on PATH):
# `make run`, `make dev` and `make dashboard` install only what runs the pipeline and the
# dashboard (RUN_SET); `make test` adds the test and lint tools and the browser (TEST_SET).
# Ports and hosts are variables: `make dev CRIPTOPIPE_UI_PORT=3001` (see README, Configuration).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TOOLS := .tools
UV_VERSION := 0.13.9
UV ?= $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
# uv uses the machine's Python and never downloads one; --locked fails when uv.lock is stale
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
SYNC = $(UV) sync --locked --python $(PYTHON)
RUN_SET := --no-default-groups --extra dashboard --extra embedded
TEST_SET := --all-extras --all-groups
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.DEFAULT_GOAL := help
.PHONY: help setup install-run install-test run dev dashboard stop test lint typecheck bench clean

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(TOOLS)/bin/uv:
	@echo "uv is not on PATH: installing uv $(UV_VERSION) with pip into $(TOOLS)/"
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q uv==$(UV_VERSION)

# what `make run` needs, and no more; keeps packages a `make test` added (--inexact)
$(RUN_STAMP): pyproject.toml uv.lock | $(UV)
	$(SYNC) --inexact $(RUN_SET)
	@touch $@

# everything: the run set plus the test and lint groups (the browser driver among them)
$(TEST_STAMP): pyproject.toml uv.lock | $(UV)
	$(SYNC) $(TEST_SET)
	@touch $@ $(RUN_STAMP)

install-run: $(RUN_STAMP) ## install only what run/dev/dashboard need (done by each of them)
	@bash scripts/ensure-system-deps.sh run

install-test: $(TEST_STAMP)
	@bash scripts/ensure-system-deps.sh test

setup: install-test ## create .venv with everything the tests need (done by `make test`)

run: install-run ## the main job: 30 days of history, the latest closed UTC day's snapshots, then 30 days of exchange candles and daily prices (sandboxes if no COINCAP_API_KEY)
	$(PY) -m criptopipe.cli run

dev: install-run ## the Dagster UI + daemon on http://127.0.0.1:3000 (CRIPTOPIPE_UI_PORT), same configuration as `make run`
	$(PY) -m criptopipe.cli dev

dashboard: install-run ## the Streamlit dashboard on http://127.0.0.1:8501 (CRIPTOPIPE_DASHBOARD_PORT)
	$(PY) -m criptopipe.cli dashboard

stop: ## stop everything run/dev/dashboard started: UI and daemon, dashboard, local servers, both sandboxes
	@if test -x $(PY); then $(PY) -m criptopipe.cli stop; else echo "nothing to stop"; fi

lint: $(TEST_STAMP) ## ruff lint + format check
	$(VENV)/bin/ruff check criptopipe criptopipe_tests benchmarks
	$(VENV)/bin/ruff format --check criptopipe criptopipe_tests benchmarks

typecheck: $(TEST_STAMP) ## mypy over the package
	$(VENV)/bin/mypy criptopipe

test: install-test lint typecheck ## the whole suite on real servers (what CI runs)
	$(VENV)/bin/pytest -n 2 --dist loadgroup

bench: install-test ## the benchmarks behind the README's figures (several minutes)
	$(PY) benchmarks/coincap_costs.py
	$(PY) benchmarks/storage_bench.py
	$(PY) benchmarks/write_lease_bench.py
	$(PY) benchmarks/bad_config.py
	$(PY) benchmarks/backfill_bench.py
	$(PY) benchmarks/dashboard_render.py

clean: stop ## remove local data, the venv and caches
	rm -rf .criptopipe $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache

# `make -s print-RUN_SET`: a variable's value, for the tests that check what an install holds
print-%:
	@echo '$($*)'
