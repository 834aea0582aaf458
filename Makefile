# The two commands of the README: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup models serve test lint bench loadtest clean

setup: $(STAMP) models

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,loadtest]'
	touch $(STAMP)

models: $(STAMP)
	$(BIN)/bg-remover models fetch

serve: setup
	$(BIN)/bg-remover serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@echo "run e.g. $(BIN)/python bench/cutout_quality.py"

loadtest: setup
	$(BIN)/python loadtest/run.py $(LOADTEST_ARGS)

clean:
	rm -rf $(VENV) var
