# Set-up, local API, tests, template checks, build and helpers. Every target creates the virtual
# environment it needs.

PYTHON_VERSION ?= 3.13
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FUNCTION ?= GetOrganizationFunction
EVENT ?= events/get_organization.json

# pyenv holds Python 3.13 on the development machines; a python3.13 on PATH works too.
SYSTEM_PYTHON := $(shell PYENV_VERSION=$(PYTHON_VERSION) pyenv which python 2>/dev/null || command -v python$(PYTHON_VERSION) 2>/dev/null)

# The SAM CLI lives in a virtual environment of its own, because it pins older pydantic and boto3
# releases than the service uses.
SAM_VENV ?= .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM := $(SAM_VENV)/bin/sam
# Validating and building need no AWS account: no telemetry, no credential lookup on the instance
# metadata service, a fixed region, and the Python 3.13 that `sam build` looks for on PATH.
SAM_ENV := SAM_CLI_TELEMETRY=0 AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1 \
	PATH="$(dir $(SYSTEM_PYTHON)):$$PATH"

.PHONY: install run invoke test audit validate build openapi bench clean

install: $(STAMP)

$(STAMP): requirements-dev.txt layers/common/requirements.txt requirements-lambda-runtime.txt
	@test -n "$(SYSTEM_PYTHON)" || { echo "Python $(PYTHON_VERSION) not found: install it or put python$(PYTHON_VERSION) on PATH." >&2; exit 1; }
	@echo "Installing the development dependencies into $(VENV)" >&2
	@test -x $(PY) || $(SYSTEM_PYTHON) -m venv $(VENV) >&2
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt >&2
	@touch $(STAMP)

$(SAM_STAMP): requirements-sam.txt
	@test -n "$(SYSTEM_PYTHON)" || { echo "Python $(PYTHON_VERSION) not found: install it or put python$(PYTHON_VERSION) on PATH." >&2; exit 1; }
	@echo "Installing the SAM CLI into $(SAM_VENV)" >&2
	@test -x $(SAM_VENV)/bin/python || $(SYSTEM_PYTHON) -m venv $(SAM_VENV) >&2
	@$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt >&2
	@touch $(SAM_STAMP)

run: $(STAMP)
	$(PY) -m local_api serve

invoke: $(STAMP)
	@$(PY) -m local_api invoke $(FUNCTION) $(EVENT)

# The infrastructure tests translate the template with the SAM CLI's aws-sam-translator.
test: $(STAMP) $(SAM_STAMP)
	$(PY) -m pytest

# Checks the layer's pinned requirements against the PyPI vulnerability data. Every requirement,
# transitive ones included, is pinned, so pip-audit needs no dependency resolution (--no-deps).
audit: $(STAMP)
	$(VENV)/bin/pip-audit --requirement layers/common/requirements.txt --no-deps --disable-pip --strict \
		--progress-spinner off

# `sam validate --lint` runs cfn-lint instead of the SAM checks, so both run; then cfn-lint checks
# the plain CloudFormation that the SAM transform makes of the template (W2001 flags parameters
# that the offline translation already substituted).
validate: $(SAM_STAMP)
	$(SAM_ENV) $(SAM) validate --template-file template.yaml
	$(SAM_ENV) $(SAM) validate --lint --template-file template.yaml
	@mkdir -p .aws-sam
	$(SAM_VENV)/bin/python tests/infrastructure/translate.py template.yaml > .aws-sam/translated.json
	$(SAM_VENV)/bin/cfn-lint --ignore-checks W2001 -- .aws-sam/translated.json

# Builds without Docker: layers/common/Makefile installs the layer's binary wheels for the template's
# architecture, without the AWS SDK that the runtime provides. tests/infrastructure/test_built_handlers.py
# runs what this writes to .aws-sam/build.
build: $(SAM_STAMP)
	$(SAM_ENV) $(SAM) build --template-file template.yaml

# Regenerates docs/openapi.json from the functions' FastAPI apps; a test fails when it is stale.
openapi: $(STAMP)
	$(PY) -m local_api openapi --output docs/openapi.json

# Leaves .local/, the local database and signing key, in place. To reset them, stop `make run` and delete .local/.
clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache

# Writes docs/benchmarks.md: every path against its floor, as ratios measured in one run.
bench: $(STAMP)
	$(PY) -m bench
