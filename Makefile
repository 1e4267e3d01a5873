# One entry point for everything: `make demo`, `make check`, `make bench`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: install demo check lint typecheck test bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(BIN)/.installed

demo: install  ## install and run a real multi-agent session on SQLite
	$(BIN)/sessionstore --db demo.db demo

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

test: install
	$(BIN)/pytest -q

check: lint typecheck test  ## ruff, mypy (strict), the whole test suite

$(BIN)/.bench-installed: pyproject.toml $(BIN)/.installed
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $@

bench: $(BIN)/.bench-installed  ## the side-by-side benchmark suite against the peers
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) demo.db demo.db-wal demo.db-shm
