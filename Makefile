# The two commands of the README's quick start. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python -m jobs.sandbox.demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV)

# Not part of `make test`: style is checked by people, not by CI.
lint: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet 'ruff>=0.17,<0.18'
	$(BIN)/ruff check jobs tests bench
	$(BIN)/ruff format --check jobs tests bench

# Performance figures against the targets of the concurrency/large-date issue (about 3-4 minutes on
# 2 cores; BENCH_ARGS=--quick for a one-minute smoke run). See bench/README.md.
.PHONY: bench
bench: $(VENV)/.installed
	$(BIN)/python -m bench.run $(BENCH_ARGS)
