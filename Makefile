# The quick start is `make demo` and `make test` on a machine with python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint format bench stress clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group dev
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/press_inquiry.py

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff format --check src tests examples benchmarks tools
	$(BIN)/ruff check src tests examples benchmarks tools
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests examples benchmarks tools
	$(BIN)/ruff check --fix src tests examples benchmarks tools

bench: $(STAMP)
	$(BIN)/python benchmarks/core.py
	$(BIN)/python benchmarks/sql_transitions.py
	$(BIN)/python benchmarks/reports.py

# The multi-process storm at full size (8 processes x 10,000 attempts, 20 SIGKILLs)
# on SQLite, and on PostgreSQL / MariaDB when their RELEASEFLOW_TEST_*_URL are set.
stress: $(STAMP)
	RF_STORM_PROCS=8 RF_STORM_ATTEMPTS=10000 RF_STORM_KILLS=20 \
	  $(BIN)/python -m pytest tests/sql/test_storm.py -k storm_with -s

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
