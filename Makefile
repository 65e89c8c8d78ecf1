# abflask: `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed

.DEFAULT_GOAL := help
.PHONY: help install run test screenshots lint fmt typecheck check analyze bench loadtest clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The pinned runtime, then abflask itself (editable, no dependencies), so the
# scripts, wsgi.py and the `abflask` command import it from this checkout.
$(RUNTIME): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

$(DEV): requirements-dev.txt requirements-load.txt requirements-ref.txt $(RUNTIME)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps -r requirements-ref.txt
	touch $@

install: $(DEV) ## create .venv and install runtime and dev requirements

run: $(RUNTIME) ## serve on ABFLASK_BIND (127.0.0.1:8000); a private Redis if REDIS_URL is unset
	$(BIN)/python -m abflask.storage.localredis -- $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: $(DEV) ## run the tests against a private Redis the tests start and stop
	$(BIN)/python -m pytest $(PYTEST_ARGS)

screenshots: $(DEV) ## run the browser tests and save their screenshots in docs/screenshots
	$(BIN)/python -m pytest tests -m browser --screenshots docs/screenshots $(PYTEST_ARGS)

lint: $(DEV) ## ruff check (incl. the import contract) and format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(DEV) ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(DEV) ## mypy --strict on abflask, wsgi.py and gunicorn.conf.py
	$(BIN)/mypy

check: lint typecheck test ## what CI runs: lint, typecheck, test

analyze: $(RUNTIME) ## run the analysis job once (ARGS="--html var/report.html" etc.)
	$(BIN)/python scripts/analyze.py $(ARGS)

bench: $(DEV) ## HTTP (needs wrk), SDK, analysis, live results benchmarks; minutes, not part of the tests
	$(BIN)/python scripts/bench_http.py
	$(BIN)/python scripts/bench_analysis.py
	$(BIN)/python scripts/bench_live.py
	$(BIN)/pip install -q growthbook==4.0.0 && $(BIN)/python scripts/bench_sdk.py

loadtest: $(DEV) ## 30 s headless Locust run against a private service; reports in var/loadtest/
	$(BIN)/python scripts/run_loadtest.py $(ARGS)

clean: ## remove the venv, caches and var/ (the private Redis data!)
	rm -rf $(VENV) var dist build .mypy_cache .ruff_cache .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
