# Each target makes its own virtual environment first, so a fresh clone needs only python3 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test check bench migrate clean package-consumers

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

## Start the FHIR server on the embedded SQLite database with profiles/ loaded (http://127.0.0.1:8080/fhir).
## DEVELOPMENT ONLY: authentication is turned OFF here on purpose (DYAD_AUTH=off), so every caller is
## the server itself and sees every record. Dyad's default is DYAD_AUTH=jwt; never serve real data this way.
serve: $(BIN)/.installed
	@echo "*** make serve: DYAD_AUTH=off (development only: no tokens, every caller sees everything) ***"
	DYAD_AUTH=off $(BIN)/dyad serve

## Run the whole test suite, on SQLite and on PostgreSQL.
test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

## Lint, formatting and types (ruff and mypy, configured in pyproject.toml).
check: $(BIN)/.installed
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench
	$(BIN)/mypy
## FHIR package consumers for tests/e2e/test_package_consumers.py (npm registry; see docs/package.md).
package-consumers:
	cd tests/e2e/package_consumers && npm install --no-audit --no-fund --no-package-lock

migrate: $(BIN)/.installed
	$(BIN)/dyad migrate

## Benchmarks (see README and docs/benchmarks.md); not part of the test suite.
bench: $(BIN)/.installed
	$(BIN)/python -m bench.validation_bench
	$(BIN)/python -m bench.mapping_bench
	$(BIN)/python -m bench.server_bench
	$(BIN)/python -m bench.notify_bench

clean:
	rm -rf $(VENV) var .pytest_cache
