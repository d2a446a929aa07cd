# The two commands of the README: `make run` starts the API, `make test` runs the suite.
# Both create the virtualenv and install what they need on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := run.py

.PHONY: run test lint clean

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

# The suite runs twice: on SQLite, then on a fresh PostgreSQL database (created and
# dropped by tests/support/run_postgres.py; skipped with a message when no server answers,
# a failure when REQUIRE_POSTGRES=1 as in CI).
test: lint
	@echo "== SQLite run =="
	$(BIN)/pytest -v -m "not postgres"
	@echo "== PostgreSQL run =="
	$(BIN)/python -m tests.support.run_postgres $(BIN)/pytest -v

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .tox src/*.egg-info artifacts
