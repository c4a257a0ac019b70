# Two commands do all the set-up: `make demo` and `make test` (see README.md).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
# A pipe fails when any of its commands fails (`snakemake --dag | dot` must not write an empty picture).
SHELL := bash
.SHELLFLAGS := -o pipefail -ec

.PHONY: demo test lint report dag clean-demo

$(BIN)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

## Run the whole workflow on the built-in demo corpus (config/config.yaml).
demo: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES)
	@cat results/summary/scores.txt

CONFIGFILE ?= config/config.yaml

## Build the self-contained HTML report of the last run of a config
## (`make report CONFIGFILE=config/paper.yaml REPORT=results/paper/report.html`).
REPORT ?= results/report.html
report: $(BIN)/.installed
	$(BIN)/snakemake --configfile $(CONFIGFILE) --report $(REPORT)

## Draw the job DAG and the rule graph as SVG (graphviz; installed with apt-get where missing).
## `make dag CONFIGFILE=config/paper.yaml` draws another config's.
DAG_DIR ?= results
dag: $(BIN)/.installed
	@command -v dot >/dev/null || { echo "installing graphviz (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends graphviz >/dev/null; }
	mkdir -p $(DAG_DIR)
	$(BIN)/snakemake --configfile $(CONFIGFILE) --forceall --dag | dot -Tsvg > $(DAG_DIR)/dag.svg.tmp
	$(BIN)/snakemake --configfile $(CONFIGFILE) --forceall --rulegraph | dot -Tsvg > $(DAG_DIR)/rulegraph.svg.tmp
	mv $(DAG_DIR)/dag.svg.tmp $(DAG_DIR)/dag.svg && mv $(DAG_DIR)/rulegraph.svg.tmp $(DAG_DIR)/rulegraph.svg
	@echo "wrote $(DAG_DIR)/dag.svg and $(DAG_DIR)/rulegraph.svg"

## Run the test suite.
test: $(BIN)/.installed
	$(BIN)/python -m pytest

## Check the workflow with Snakemake's linter.
lint: $(BIN)/.installed
	$(BIN)/snakemake --lint

## Remove the demo's results, logs and benchmarks (keeps the synthesised corpus and results/paper).
clean-demo:
	rm -rf $(filter-out results/paper,$(wildcard results/*)) logs benchmarks
