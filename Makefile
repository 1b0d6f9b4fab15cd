# The two commands a newcomer runs (see README): `make run` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

PORT ?= 8811

.PHONY: run test lint typecheck unit install system-deps

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## The main job: the gateway on the default profile (the time server is added to an empty
## one), served over HTTP at http://127.0.0.1:$(PORT)/mcp on the process runtime.
run: $(BIN)/.installed
	@$(BIN)/mcpkit server ls --json | grep -q '"id"' || $(BIN)/mcpkit server add time
	$(BIN)/mcpkit gateway run --transport http --port $(PORT)

## Everything CI checks: lint, types, tests.
test: system-deps lint typecheck unit

## What the tests need from the system: bubblewrap (the sandbox), node and npm (npm servers).
system-deps:
	@scripts/system-deps.sh

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(BIN)/.installed
	$(BIN)/mypy

unit: $(BIN)/.installed
	$(BIN)/pytest -q
