# Two commands for a new user: `make demo` (set-up, the offline plan of the dev stack, then the local service sent the
# stack's smoke request) and `make test` (set-up, then the whole test suite). Both create .venv when missing.
# `make` alone (or `make help`) lists every target with one line each, from the `## ` after its name; it installs nothing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# uv installs the pinned requirements*.txt in a fraction of pip's time (docs/benchmarks.md). A uv on the PATH is
# used as it is; otherwise the version pinned in requirements-dev.txt is fetched into .venv/bootstrap first.
# INSTALL=pip installs the same pins with pip instead.
INSTALL ?= uv
UV_PIN := $(shell grep -m1 '^uv==' requirements-dev.txt)
UV ?= $(shell command -v uv 2>/dev/null)
BOOTSTRAP := $(VENV)/bootstrap
# uv installs without compiling to bytecode (pip compiles all 13,000 modules up front): Python writes the .pyc of what
# it imports on first use. Not when PYTHONDONTWRITEBYTECODE is set, which would recompile pulumi-azure-native's
# modules in every process (2 s or more a run): make's own commands write their bytecode.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help setup demo test serve plans plan-prod docs rollback bench-plan bench-score bench-setup clean
.DEFAULT_GOAL := help
# The stacks `make plans` plans: every Pulumi.<stack>.yaml here (make plans STACKS="dev prod" for some).
STACKS ?= $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))
# And the example stack files, by --config-file: examples/*.yaml. Naming STACKS means just those, unless EXAMPLES is
# named too (make plans STACKS=dev EXAMPLES=examples/fleet.yaml).
EXAMPLES ?= $(if $(filter command line,$(origin STACKS)),,$(wildcard examples/*.yaml))

$(STAMP): requirements.txt requirements-dev.txt policies/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 (the pinned interpreter)"; exit 1; }
ifeq ($(INSTALL),pip)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
else
	@# No ensurepip (a third of a cold set-up): the venv's pip, which Pulumi's `toolchain: pip` (pulumi install,
	@# pulumi up) installs with, comes pinned from requirements-dev.txt like everything else.
	@test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	@uv="$(UV)"; if [ -z "$$uv" ]; then uv=$(BOOTSTRAP)/bin/uv; test -x $$uv || \
	  PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(BOOTSTRAP) "$(UV_PIN)" || \
	  { $(PYTHON) -m venv $(BOOTSTRAP) && $(BOOTSTRAP)/bin/pip install --quiet "$(UV_PIN)"; } || \
	  { echo "no uv on the PATH, and $(PYTHON) could not fetch $(UV_PIN): install uv, or use make INSTALL=pip"; exit 1; }; fi; \
	echo "$$uv pip install -r requirements-dev.txt"; $$uv pip install --quiet --python $(PY) -r requirements-dev.txt
endif
	@touch $@

demo: setup ## the offline plan of dev, then the local scoring service sent the stack's smoke request
	$(PY) -m offline.plan --stack dev
	$(PY) -m local.demo --stack dev

test: setup ## the whole test suite
	$(PY) -m pytest

serve: setup ## the local scoring service of dev on 127.0.0.1 (python -m local.serve --help for your own model)
	$(PY) -m local.serve --stack dev

plans: setup ## the offline plan of every stack and example stack file; names every failing one with its exit code
	@failed=""; for stack in $(STACKS); do \
	  echo "$(PY) -m offline.plan --stack $$stack"; \
	  $(PY) -m offline.plan --stack $$stack || failed="$$failed $$stack (exit $$?)"; \
	done; \
	for file in $(EXAMPLES); do \
	  echo "$(PY) -m offline.plan --config-file $$file"; \
	  $(PY) -m offline.plan --config-file $$file || failed="$$failed $$file (exit $$?)"; \
	done; \
	if [ -n "$$failed" ]; then echo "make plans: failed:$$failed" >&2; exit 1; fi

plan-prod: setup ## the offline plan of prod
	$(PY) -m offline.plan --stack prod

docs: setup ## regenerate what the settings model generates: Pulumi.yaml's config, the README table, the schema
	$(PY) -m settings.docs --write

# The emergency way back: swap the staging slot (the previous image) into production. Needs the Pulumi CLI and az login.
rollback: setup ## swap the staging slot back into production: make rollback STACK=prod [SERVICE=name] [REGION=name] (Pulumi CLI, az login)
	@test -n "$(STACK)" || { echo "name the stack: make rollback STACK=prod"; exit 2; }
	$(PY) -m providers.rollback --stack $(STACK) $(if $(SERVICE),--service $(SERVICE)) $(if $(REGION),--region $(REGION))

bench-plan: setup ## time the offline plan of prod against its import floor
	$(PY) -m benchmarks.plan --stack prod

bench-score: setup ## the entry script in process, then the local service under load (wrk)
	$(PY) -m benchmarks.score

bench-setup: setup ## time a fresh clone's first make demo: uv with a cold and a warm cache, and pip
	$(PY) -m benchmarks.setup

setup: $(STAMP) ## create .venv and install the pinned requirements (uv, or INSTALL=pip)

help: ## this list
	@awk -F ':.*## ' '/^[a-z][a-z-]*:.*## / { printf "  make %-12s %s\n", $$1, $$2 }' $(firstword $(MAKEFILE_LIST))

clean: ## delete .venv and pytest's cache
	rm -rf $(VENV) .pytest_cache
