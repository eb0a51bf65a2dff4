# Tollgate: every target installs what it needs into folders of this project (git ignores them).
#   make demo   LocalStack on this machine, the module applied into it, traffic, a summary
#   make test   lint, unit tests, Terraform tests, end-to-end tests against LocalStack
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON          ?= python3
VENV            := .venv
BIN             := $(VENV)/bin
CHECKOV_VENV    := .checkov
LOCALSTACK_PORT ?= 4566
export LOCALSTACK_PORT
export AWS_ENDPOINT_URL ?= http://localhost:$(LOCALSTACK_PORT)

# Terraform offline: a filesystem mirror of hashicorp/aws, found automatically (override with
# TF_PLUGIN_DIR=...; set it empty to use the public registry).
TF_PLUGIN_DIR ?= $(firstword $(foreach d,/opt/tf-plugins $(HOME)/.terraform.d/plugins /usr/share/terraform/plugins,$(if $(wildcard $(d)/registry.terraform.io/hashicorp/aws),$(d),)))
TF_CLI_CONFIG   := $(CURDIR)/.tf/cli.tfrc
ifneq ($(TF_PLUGIN_DIR),)
export TF_CLI_CONFIG_FILE := $(TF_CLI_CONFIG)
endif
export TF_IN_AUTOMATION := 1
TF_DIRS := . examples/complete examples/localstack

.PHONY: help venv package release docs lint test test-unit test-terraform test-e2e demo bench bench-docs \
        localstack-up localstack-down clean chromium

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

# --- environments -------------------------------------------------------------------------
$(BIN)/.installed: pyproject.toml requirements/dev.txt requirements/lambda.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

venv: $(BIN)/.installed ## Python 3.11 environment with the package and the test tools

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements/checkov.txt

$(TF_CLI_CONFIG):
	@mkdir -p $(@D)
	@printf 'provider_installation {\n  filesystem_mirror {\n    path    = "%s"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }\n  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n' "$(TF_PLUGIN_DIR)" > $@

.tf/init.stamp: $(if $(TF_PLUGIN_DIR),$(TF_CLI_CONFIG)) $(wildcard *.tf modules/*/*.tf examples/*/*.tf)
	@for d in $(TF_DIRS); do terraform -chdir=$$d init -input=false -backend=false >/dev/null || { echo "terraform init failed in $$d"; exit 1; }; done
	@touch $@

# --- build ------------------------------------------------------------------------------------
package: $(BIN)/.installed ## build dist/tollgate.zip (deterministic: same sources, same bytes)
	$(BIN)/python tools/package.py --requirements requirements/lambda.txt --output dist/tollgate.zip

docs: $(BIN)/.installed ## regenerate the inputs/outputs tables of README.md and modules/*/README.md
	$(BIN)/python tools/tfdocs.py

release: package ## dist/tollgate-<version>.zip + .sha256, and a CHANGELOG entry for the version
	$(BIN)/python tools/release.py --package dist/tollgate.zip

# --- checks -----------------------------------------------------------------------------------
lint: $(BIN)/.installed $(CHECKOV_VENV)/bin/checkov .tf/init.stamp ## ruff, mypy --strict, generated docs, terraform fmt/validate, checkov
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/tfdocs.py --check
	$(BIN)/mypy  # --strict on the files listed in pyproject.toml [tool.mypy]
	terraform fmt -check -recursive
	@for d in $(TF_DIRS); do echo "terraform validate $$d"; terraform -chdir=$$d validate -no-color >/dev/null; done
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --framework terraform --directory . --skip-path examples --skip-path tests --skip-path .localstack

test-unit: $(BIN)/.installed ## fast offline tests (moto, Stubber)
	$(BIN)/pytest tests/unit

test-terraform: package .tf/init.stamp ## terraform test with a mocked provider (plan only)
	@# dashboard_body.tftest.hcl plans modules/dashboard on its own, a module only the tests call
	terraform init -backend=false -input=false -test-directory=tests/terraform >/dev/null
	terraform test -no-color -test-directory=tests/terraform
	@# the examples plan as modules of their own test directory, which needs its own init
	terraform init -backend=false -input=false -test-directory=tests/terraform/examples >/dev/null
	terraform test -no-color -test-directory=tests/terraform/examples

# Headless Chromium (Debian package) draws the HTML report in the end-to-end tests.
CHROMIUM := $(firstword $(shell command -v chromium chromium-browser 2>/dev/null))
SUDO     := $(if $(filter 0,$(shell id -u)),,sudo)
chromium: ## install headless Chromium from Debian packages (for the HTML report test)
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

E2E ?= tests/e2e
test-e2e: package $(BIN)/.installed .tf/init.stamp $(if $(CHROMIUM),,chromium) ## deploy into LocalStack and run real executions (E2E=path::test to pick)
	$(BIN)/pytest $(E2E) -m e2e -p no:cacheprovider

test: lint test-unit test-terraform test-e2e ## everything CI runs

bench: package $(BIN)/.installed .tf/init.stamp ## the figures of docs/benchmarks.md; writes dist/bench.json (BENCH_ARGS=--only p1,p5)
	PYTHONPATH=tools $(BIN)/python -m bench $(BENCH_ARGS)
	PYTHONPATH=tools $(BIN)/python -m bench.report

bench-docs: $(BIN)/.installed ## re-render the tables of docs/benchmarks.md from an existing dist/bench.json
	PYTHONPATH=tools $(BIN)/python -m bench.report

# --- local AWS --------------------------------------------------------------------------------
localstack-up: ## install (once) and start LocalStack on 127.0.0.1:$(LOCALSTACK_PORT)
	$(PYTHON) local/launcher.py up

localstack-down: ## stop what localstack-up started
	$(PYTHON) local/launcher.py down

demo: localstack-up package $(BIN)/.installed .tf/init.stamp ## deploy into LocalStack, send traffic, print outcomes
	$(BIN)/python local/demo.py

clean: ## remove everything this project built or installed (stops LocalStack first)
	-$(PYTHON) local/launcher.py down
	-$(PYTHON) local/launcher.py clean
	rm -rf $(VENV) $(CHECKOV_VENV) .tf dist build *.egg-info .pytest_cache .ruff_cache .mypy_cache
	find . -name .terraform -type d -prune -exec rm -rf {} + ; find . -name '.terraform.lock.hcl' -delete
	find . -name '__pycache__' -type d -prune -exec rm -rf {} +
	@# the demo's Terraform state describes a LocalStack that is gone now
	rm -rf examples/localstack/terraform.tfstate examples/localstack/terraform.tfstate.backup examples/localstack/terraform.tfstate.d
