# Kundenkiosk — the two commands of the README are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KIOSK_HOME ?= $(CURDIR)/.kiosk-home

.PHONY: run test lint catalogs bench clean venv demo

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

catalogs: $(STAMP)
	$(BIN)/python -m services.i18n

# Start the kiosk on the embedded SQLite database with the demo data loaded.
run: catalogs
	$(BIN)/kiosk db upgrade
	$(BIN)/kiosk demo --quiet
	$(BIN)/kiosk

# The whole test suite (PostgreSQL tests run when a server answers; mandatory with CI=true).
test: catalogs
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

bench: catalogs
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .kiosk-home .pytest_cache
