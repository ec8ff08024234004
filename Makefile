# `make demo` and `make test` set up everything a fresh clone needs, then run.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: setup system-deps demo test unit faults lint benchmarks

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

system-deps:
	scripts/system-deps.sh

demo: setup system-deps
	$(BIN)/streamml demo

lint: setup
	$(BIN)/ruff check .

test: setup system-deps lint
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest tests/unit

faults: setup system-deps
	$(BIN)/pytest -s tests/faults

benchmarks: setup system-deps
	$(BIN)/python -m benchmarks
