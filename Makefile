# The two commands of the README's quick start. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The demo's state and files (jobs/sandbox/demo.py), apart from a real installation's.
DEMO := demo

.PHONY: demo test lint clean

# $(call venv_step,command,what it does): shown and run like any recipe line, but a failure removes .venv,
# so a half-made one never looks finished to the next make.
define venv_step
@echo "$(1)"; $(1) || { rm -rf $(VENV); echo "make: $(2) failed (see above); removed $(VENV), so the next make starts clean" >&2; exit 1; }
endef

# pyproject.toml's requires-python, checked before anything is created. The check runs on any Python
# (print with one argument and %-formatting work in 2.x too): exit 1 with a version means too old.
$(BIN)/python:
	@version=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2]); sys.exit(sys.version_info < (3, 11))' 2>/dev/null); \
	status=$$?; \
	if [ $$status -eq 1 ] && [ -n "$$version" ]; then \
		echo "make: Python 3.11+ needed, $(PYTHON) is $$version: install 3.11 or newer, then run make PYTHON=python3.11 (or its path)" >&2; exit 1; \
	elif [ $$status -ne 0 ]; then \
		echo "make: cannot run $(PYTHON): install Python 3.11 or newer, then run make PYTHON=python3.11 (or its path)" >&2; exit 1; \
	fi
	rm -rf $(VENV)
	$(call venv_step,$(PYTHON) -m venv $(VENV),creating $(VENV))
	$(call venv_step,$(BIN)/python -m pip install --quiet --upgrade pip,upgrading pip in $(VENV))

# Reinstall when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(call venv_step,$(BIN)/python -m pip install --quiet -e '.[test]',installing the project)
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python -m jobs.sandbox.demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(DEMO)

# ruff and mypy (the test extra installs them); .ci/run runs them before the tests. mypy reads its
# settings (strict, over jobs/) from pyproject.toml.
lint: $(VENV)/.installed
	$(BIN)/ruff check jobs tests bench docs setup.py
	$(BIN)/ruff format --check jobs tests bench docs setup.py
	$(BIN)/mypy

# Performance figures against the targets of the concurrency/large-date issue (about 3-4 minutes on
# 2 cores; BENCH_ARGS=--quick for a one-minute smoke run). See bench/README.md.
.PHONY: bench
bench: $(VENV)/.installed
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python -m bench.web
