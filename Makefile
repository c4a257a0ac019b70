# Two commands do all the set-up: `make demo` and `make test` (see README.md).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: demo test lint report clean-demo

$(BIN)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

## Run the whole workflow on the built-in demo corpus (config/config.yaml).
demo: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES)
	@cat results/summary/scores.txt

## Build the self-contained HTML report of the last run.
report: $(BIN)/.installed
	$(BIN)/snakemake --report results/report.html

## Run the test suite.
test: $(BIN)/.installed
	$(BIN)/python -m pytest

## Check the workflow with Snakemake's linter.
lint: $(BIN)/.installed
	$(BIN)/snakemake --lint

## Remove the demo's results (keeps the synthesised corpus).
clean-demo:
	rm -rf results/demo_* logs benchmarks
