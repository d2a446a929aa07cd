# The two commands of the README: `make run` starts the API, `make test` runs the suite.
# Both create the virtualenv and install what they need on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := run.py

.PHONY: run test test-fast lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/flask db upgrade
	@echo "Swagger UI: http://$(HOST):$(PORT)/api/v1/ui"
	$(BIN)/flask run --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Tests run in parallel (pytest-xdist, a process per core: JOBS=1 for one), each with
# its own database, ports and folders. The SQLite run takes every test but the
# PostgreSQL-only ones; the PostgreSQL run (a database made and dropped by
# tests/support/run_postgres.py; skipped with a message when no server answers, a
# failure when REQUIRE_POSTGRES=1 as in CI) takes what PostgreSQL changes: the tests
# marked database or postgres.
JOBS ?= auto

test: lint
	@echo "== SQLite run =="
	$(BIN)/pytest -n $(JOBS) -m "not postgres"
	@echo "== PostgreSQL run =="
	$(BIN)/python -m tests.support.run_postgres $(BIN)/pytest -n $(JOBS) -m "database or postgres"

# The edit-test loop: lint, then every in-process test on SQLite (no server started).
test-fast: lint
	$(BIN)/pytest -n $(JOBS) -m "not postgres and not served"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .tox src/*.egg-info artifacts
