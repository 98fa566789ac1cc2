# The two commands of the README: `make run` builds the reference warehouse and its
# report on the embedded DuckDB default; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SEED ?= 42
SCALE ?= 1

.PHONY: run test venv venv-test lab clean-data help lock
.DEFAULT_GOAL := help

help:
	@echo "make run    build the sample data, run pipelines/shop.yml, print where the report is"
	@echo "make test   run the whole test suite (pytest + nbval)"
	@echo "make lab    open JupyterLab at the workspace root"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "millpond needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# An editable install leaves millpond's own modules uncompiled, and with PYTHONDONTWRITEBYTECODE
# set every command would compile them again (0.05 s a command): compile them once here.
$(VENV)/.installed-run: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[examples]'
	@$(BIN)/python -m compileall -q lib/millpond > /dev/null
	@touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,examples,spark]'
	@$(BIN)/python -m compileall -q lib/millpond > /dev/null
	@touch $@ $(VENV)/.installed-run

venv: $(VENV)/.installed-run
venv-test: $(VENV)/.installed-test

run: venv
	$(BIN)/millpond generate --seed $(SEED) --scale $(SCALE)
	$(BIN)/millpond run shop --jobs 2
	@$(BIN)/millpond docs > /dev/null
	@echo "report:    data/reports/shop.html"
	@echo "quality:   data/reports/shop-quality.html"
	@echo "docs site: data/reports/docs/index.html"

test: venv-test
	$(BIN)/python -m pytest

lab: venv
	$(BIN)/millpond lab

clean-data:
	rm -rf data/warehouse.duckdb data/warehouse.duckdb.* data/runs data/reports data/.millpond data/raw

# Resolve pyproject.toml's ranges afresh and pin the result in constraints.txt (commit it).
lock:
	rm -rf .venv-lock && python3 -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q --upgrade pip
	.venv-lock/bin/python -m pip install -q -e '.[test,examples,spark]'
	{ sed -n '/^#/p' constraints.txt; .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^millpond' | sort -f; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .venv-lock

