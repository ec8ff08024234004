# `make demo` and `make test` set up everything a fresh clone needs, then run.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: setup system-deps demo test unit faults lint typecheck benchmarks lock quix-lock

setup: $(VENV)/.installed

# Every dependency comes from requirements.lock, pinned with its hashes; pyproject.toml
# declares the ranges the lock is made from (make lock).
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

UV_VERSION := 0.13.8
LOCK_TOOLS := $(VENV)/lock-tools
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--quiet

# The lock of make setup (with the test, import, onnx and schemas extras) and the image's (without);
# setuptools is the build backend, installed from the lock too.
$(LOCK_TOOLS)/bin/uv:
	$(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/pip install --quiet 'uv==$(UV_VERSION)'

lock: $(LOCK_TOOLS)/bin/uv
	printf 'setuptools>=69\n' | $(LOCK_TOOLS)/bin/uv pip compile pyproject.toml - --extra test --extra import --extra onnx --extra schemas \
		$(LOCK_FLAGS) --custom-compile-command "make lock" -o requirements.lock
	printf 'setuptools>=69\n' | $(LOCK_TOOLS)/bin/uv pip compile pyproject.toml - \
		$(LOCK_FLAGS) --custom-compile-command "make lock" -o requirements-runtime.lock

system-deps:
	scripts/system-deps.sh

demo: setup system-deps
	$(BIN)/streamml demo

lint: setup
	$(BIN)/ruff check .

# The project's packages; the tests are not type-checked.
typecheck: setup
	$(BIN)/mypy contracts producers scorer stream_processors monitor retrainer streamml benchmarks

test: setup system-deps lint typecheck
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest tests/unit

faults: setup system-deps
	$(BIN)/pytest -s tests/faults

benchmarks: setup system-deps
	$(BIN)/python -m benchmarks

# The benchmark's Quix Streams rows run in their own environment (benchmarks/quix_env.py).
quix-lock: $(LOCK_TOOLS)/bin/uv
	printf 'quixstreams==3.28.1\n' | $(LOCK_TOOLS)/bin/uv pip compile - $(LOCK_FLAGS) \
		--custom-compile-command "make quix-lock" -o benchmarks/quix.lock
