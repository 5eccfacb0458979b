# Two commands for a new user: `make demo` (set-up, then the offline plan of the dev stack)
# and `make test` (set-up, then the whole test suite).
# `make demo`: the offline plan of dev, then the local service sent the manual procedure's request. Both create .venv when missing.
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

.PHONY: setup demo test serve plans plan-prod docs rollback bench-plan bench-score bench-setup clean

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

setup: $(STAMP)

demo: setup
	$(PY) -m offline.plan --stack dev
	$(PY) -m local.demo --stack dev

serve: setup
	$(PY) -m local.serve --stack dev

test: setup
	$(PY) -m pytest

plan-prod: setup
	$(PY) -m offline.plan --stack prod

plans: setup
	for stack in $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml)); do $(PY) -m offline.plan --stack $$stack || exit 1; done

docs: setup
	$(PY) -m settings.docs --write

# The emergency way back: swap the staging slot (the previous image) into production. Needs the Pulumi CLI and az login.
rollback: setup
	@test -n "$(STACK)" || { echo "name the stack: make rollback STACK=prod"; exit 2; }
	$(PY) -m providers.rollback --stack $(STACK)

bench-plan: setup
	$(PY) -m benchmarks.plan --stack prod

bench-score: setup
	$(PY) -m benchmarks.score

bench-setup: setup
	$(PY) -m benchmarks.setup

clean:
	rm -rf $(VENV) .pytest_cache
