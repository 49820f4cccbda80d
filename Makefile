# Two commands for a fresh machine: `make demo` and `make test`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck unit serve migrate lock clean bench vendor

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.runtime: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PIP) -e '.[dev]'
	touch $@

## Run the demo: SQLite under ./data, demo clinic and staff, server on http://127.0.0.1:8000/
demo: $(VENV)/.runtime
	$(BIN)/ketamine-monitor demo

## Run everything CI runs: ruff, mypy --strict, import contracts and the whole test suite
test: $(VENV)/.dev lint typecheck unit

lint: $(VENV)/.dev
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/ruff format --check app tests migrations bench
	$(BIN)/lint-imports

typecheck: $(VENV)/.dev
	$(BIN)/mypy --strict app

# Branch coverage of app/ must stay at 90 % or above (STYLE §2).
unit: $(VENV)/.dev
	$(BIN)/pytest -n 2 --dist loadgroup --cov=app --cov-branch --cov-report=term:skip-covered \
		--cov-fail-under=90 $(PYTEST_ARGS)

serve: $(VENV)/.runtime
	$(BIN)/ketamine-monitor serve

migrate: $(VENV)/.runtime
	$(BIN)/ketamine-monitor migrate

## Benchmark: 1,000 monitors and 10 boards for 60 s on PostgreSQL (bench/README.md for more)
bench: $(VENV)/.dev
	$(BIN)/python -m bench run $(BENCH_ARGS)

## Re-pin constraints.txt from a fresh environment (run after changing dependencies)
lock:
	rm -rf .venv-lock && $(PY) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q -e '.[dev]'
	.venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^ketamine-monitor' > constraints.txt
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

## Fetch the pinned browser libraries (uPlot, axe-core) from npm into app/web/static/vendor/
vendor:
	scripts/vendor.sh
