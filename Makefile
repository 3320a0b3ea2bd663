# Two entry points on a fresh machine with Python 3.11+ and make: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit schema bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' --config-settings editable_mode=compat
	# Bytecode up front: with PYTHONDONTWRITEBYTECODE set, every start would compile the package.
	$(BIN)/python -m compileall -q deployspec
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check deployspec tests bench examples scripts
	$(BIN)/ruff format --check deployspec tests bench examples scripts

typecheck: $(STAMP)
	$(BIN)/mypy

# Two worker processes, one per core of the CI machine; a test file stays on one worker, so its
# module fixtures (a sandbox, pre-commit's hook environment) are made once per run.
unit: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadfile

test: lint typecheck unit

schema: $(STAMP)
	$(BIN)/deployspec schema > schemas/deployment.schema.json

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
