# Two entry points for a fresh machine: `make demo` and `make test`.
# Everything is installed from the repo's own pins: requirements.lock (PyPI) and
# package-lock.json (npm: solc-js and anvil).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit install install-node compile gas clean

$(BIN)/liqbot: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(BIN)/liqbot

install: $(BIN)/liqbot

# `npm install`, not `npm ci`: the registry serves only this platform's anvil binary, so the
# lock file cannot list @foundry-rs/anvil's other-platform optional packages, which `npm ci`
# insists on. Versions are still exact (package.json pins, package-lock.json integrity).
node_modules/.package-lock.json: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch node_modules/.package-lock.json

install-node: node_modules/.package-lock.json

demo: install
	$(BIN)/liqbot demo

lint: install
	$(BIN)/ruff check bot tests scripts
	$(BIN)/ruff format --check bot tests scripts

typecheck: install
	$(BIN)/mypy

unit: install install-node
	$(BIN)/pytest -n 2 --dist loadfile

test: lint typecheck unit

compile: install install-node
	$(BIN)/python scripts/compile.py

gas: install install-node
	$(BIN)/python scripts/gas_table.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
