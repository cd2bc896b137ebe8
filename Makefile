# pitstore: the handful of commands a contributor needs. Everything runs from .venv, which the
# first target that needs it creates (so `make demo` and `make test` work on a fresh machine).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO ?= demo_repo

.PHONY: install demo test pytest lint format bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pitstore needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install pitstore with its test tools

demo: install  ## create a demo repo, apply it, build training data, materialize, read online
	$(BIN)/pitstore init $(DEMO) --force
	$(BIN)/pitstore apply --repo $(DEMO)
	$(BIN)/pitstore list views --repo $(DEMO)
	$(BIN)/pitstore historical --repo $(DEMO) --entities $(DEMO)/data/entities.parquet \
		--service driver_activity --out $(DEMO)/data/training.parquet
	$(BIN)/pitstore materialize-incremental now --repo $(DEMO)
	$(BIN)/pitstore get-online --repo $(DEMO) --entity driver_id=1001 \
		--features driver_stats:conv_rate,driver_stats:acc_rate,driver_stats:avg_daily_trips

test: install lint pytest  ## lint, type-check and run the whole test suite

pytest: install
	$(BIN)/python -m pytest

lint: install  ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install  ## benchmarks (see bench/README.md); not part of the tests
	$(BIN)/python bench/run_historical.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache .hypothesis
