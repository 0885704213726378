# Set-up, local API, tests and helpers. Every target creates the virtual environment it needs.

PYTHON_VERSION ?= 3.13
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FUNCTION ?= GetOrganizationFunction
EVENT ?= events/get_organization.json

# pyenv holds Python 3.13 on the development machines; a python3.13 on PATH works too.
SYSTEM_PYTHON := $(shell PYENV_VERSION=$(PYTHON_VERSION) pyenv which python 2>/dev/null || command -v python$(PYTHON_VERSION) 2>/dev/null)

.PHONY: install run invoke test bench clean

install: $(STAMP)

$(STAMP): requirements-dev.txt layers/common/requirements.txt
	@test -n "$(SYSTEM_PYTHON)" || { echo "Python $(PYTHON_VERSION) not found: install it or put python$(PYTHON_VERSION) on PATH." >&2; exit 1; }
	@echo "Installing the development dependencies into $(VENV)" >&2
	@test -x $(PY) || $(SYSTEM_PYTHON) -m venv $(VENV) >&2
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt >&2
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m local_api serve

invoke: $(STAMP)
	@$(PY) -m local_api invoke $(FUNCTION) $(EVENT)

test: $(STAMP)
	$(PY) -m pytest

# Leaves .local/, the local database and signing key, in place. To reset them, stop `make run` and delete .local/.
clean:
	rm -rf $(VENV) .pytest_cache

# Writes docs/benchmarks.md: every path against its floor, as ratios measured in one run.
bench: $(STAMP)
	$(PY) -m bench
