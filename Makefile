# ansinh-gateway — the two commands a newcomer needs are `make run` and `make test`.
# Both create or refresh .venv from pyproject.toml on their own.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help run test lint typecheck unit pytest venv clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## create/refresh the virtual environment

run: $(STAMP) ## start the gateway with its simulators and demo data on 127.0.0.1:8000
	$(BIN)/ansinh devserver

test: $(STAMP) ## lint, type-check and run the whole suite on SQLite and PostgreSQL
	@scripts/ensure-test-services.sh
	$(BIN)/ruff check gateway adapters mappings schedules certs tests benchmarks
	$(BIN)/mypy
	ANSINH_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider

lint: $(STAMP) ## ruff only
	$(BIN)/ruff check gateway adapters mappings schedules certs tests benchmarks

typecheck: $(STAMP) ## mypy only
	$(BIN)/mypy

unit: $(STAMP) ## fast unit tests only (no database, no network)
	$(BIN)/python -m pytest tests/unit -q

clean: ## remove the virtual environment and local data
	rm -rf $(VENV) var
