# Two commands for a new user: `make demo` (set-up, then the offline plan of the dev stack)
# and `make test` (set-up, then the whole test suite).
# `make demo`: the offline plan of dev, then the local service sent the manual procedure's request. Both create .venv when missing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# uv installs the pinned requirements*.txt in a fraction of pip's time (docs/benchmarks.md). A uv on the PATH is
# used as it is; otherwise the version pinned in requirements-dev.txt is installed into the venv first.
# INSTALL=pip installs the same pins with pip instead.
INSTALL ?= uv
UV_PIN := $(shell grep -m1 '^uv==' requirements-dev.txt)
UV ?= $(shell command -v uv 2>/dev/null)

.PHONY: setup demo test serve plans plan-prod docs rollback bench-plan bench-score clean

$(STAMP): requirements.txt requirements-dev.txt policies/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 (the pinned interpreter)"; exit 1; }
	@# A venv with pip in it: Pulumi's own `toolchain: pip` (pulumi install, pulumi up) installs with that pip.
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
ifeq ($(INSTALL),pip)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
else
	@uv="$(UV)"; if [ -z "$$uv" ]; then uv=$(VENV)/bin/uv; test -x $$uv || \
	  $(PY) -m pip install --quiet --disable-pip-version-check "$(UV_PIN)"; fi; \
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

clean:
	rm -rf $(VENV) .pytest_cache
