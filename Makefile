# The front door. `make demo` runs the embedded default; `make test` passes the tests.
# Both install what they need first (Debian packages, a virtualenv with the project).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-unit lint bench clean

$(STAMP): pyproject.toml scripts/install-system-deps.sh
	./scripts/install-system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/tabmon demo $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check monitor producers tests load dashboards
	$(BIN)/ruff format --check monitor producers tests load dashboards
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python load/bench.py $(ARGS)
	$(BIN)/python load/faust_baseline.py

clean:
	rm -rf $(VENV) .tabmon .pytest_cache .mypy_cache .ruff_cache .hypothesis
