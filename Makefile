# opioidcds developer commands. The two README commands are `make demo` and `make test`;
# each creates .venv and installs everything it needs on a machine with python3 (>= 3.11),
# pip, make and a C compiler.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev
STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: demo test lint typecheck unit bench fuzz-long clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

## The library's main job on bundled example data.
demo: $(STAMP)
	$(BIN)/opioidcds ome examples/patient-example.json

## The whole test suite: lint, type check, tests (hypothesis derandomised).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

## Benchmarks print their figures (not part of `make test`).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ome.py
	$(BIN)/python benchmarks/bench_dosage.py
	$(BIN)/python benchmarks/bench_rules.py
	$(BIN)/python benchmarks/bench_check.py

## Longer randomised property runs (not part of `make test`).
test-deep: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(BIN)/python -m pytest -q tests/properties

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
