# Two entry points that work on a fresh machine with only Python 3.11:
#   make demo   set up .venv and run the walkthrough on the local stand-in model
#   make test   set up .venv, lint (ruff, mypy --strict), then run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo lint test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/llmops demo

# ruff and mypy read their settings from pyproject.toml; a lint failure stops `make test` before pytest
lint: $(STAMP)
	$(BIN)/ruff check llmops_cli tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .llmops .pytest_cache
