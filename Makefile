# salesbot — the two commands on a fresh machine are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean

setup:  ## create .venv and .venv-rasa, migrate the store, train the Rasa model when its data changed
	@bash scripts/setup.sh

demo:  ## demo data on SQLite, batch scoring, then a chat with the assistant as a demo rep
	@# setup without training: the demo trains once, after its data is in the store
	@SALESBOT_SETUP_TRAIN=0 bash scripts/setup.sh
	@bash scripts/demo.sh

test: setup  ## every test: lint, types, import rules, unit, store on SQLite and PostgreSQL, integration
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy store analytics actions bot render
	$(BIN)/python -m pytest -n 2 --dist loadgroup --timeout 900

lint:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup  ## speed and quality benchmarks (ratios against baselines measured in the same run)
	$(BIN)/python -m benchmarks

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
