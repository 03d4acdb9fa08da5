# The README's two set-up commands are `make demo` and `make test`; everything installs from
# pyproject.toml pinned by constraints.txt, so a fresh clone needs only Python 3.11, make and git.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test lint bench airflow clean install install-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q --upgrade pip setuptools wheel

# setup.py compiles features/_orientation_lanes.c for this machine (-march=native): an edit of it
# rebuilds the extension in place
$(VENV)/.core: $(BIN)/python pyproject.toml constraints.txt setup.py features/_orientation_lanes.c
	$(PIP) -e .
	touch $@

$(VENV)/.test: $(VENV)/.core
	$(PIP) -e '.[test,airflow]'
	touch $@

install: $(VENV)/.core
install-test: $(VENV)/.test

demo: $(VENV)/.core
	$(BIN)/nuchal demo

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

bench: $(VENV)/.test
	$(BIN)/python -m bench

airflow: $(VENV)/.test
	$(BIN)/nuchal airflow-standalone

clean:
	rm -rf $(VENV) nuchal-data bench/out .pytest_cache .mypy_cache .ruff_cache
