# sovereign-ai: the stable commands (docs/architecture.md §8). Every target that needs the engine or a venv
# runs `setup` first, which is idempotent and takes seconds once the toolchain cache is warm.
SHELL := /bin/bash
PYTHON ?= python3
STACK ?= dev
VENV := venv
POLICY_VENV := policies/venv
ENGINE_ENV = eval "$$($(PYTHON) scripts/toolchain.py env)"
# REFRESH=1: `make preview`/`make up` read the live state first (pulumi --refresh), so drift shows.
REFRESH ?=
REFRESH_FLAG = $(if $(filter 1 yes true,$(REFRESH)), --refresh)

.PHONY: setup toolchain venvs env demo test test-unit lint docs preview up verify sandbox-up sandbox-down sandbox-status bench clean

setup: toolchain venvs state-server

toolchain:
	@$(PYTHON) scripts/toolchain.py build

venvs: $(VENV)/.stamp $(POLICY_VENV)/.stamp

# $(call make_venv,<what>,<venv dir>,<requirements file>): one venv, its progress line and its log.
define make_venv
	@echo "==> $(1) ($(2)) from $(3) ..."
	@start=$$(date +%s); mkdir -p .build; \
	  $(PYTHON) -m venv $(2) && \
	  $(2)/bin/pip install --disable-pip-version-check -q -r $(3) >> .build/setup.log 2>&1 \
	  || { echo "    FAILED: pip install into $(2); see .build/setup.log" >&2; exit 1; }; \
	  touch $(2)/.stamp; echo "    ok ($$(( $$(date +%s) - start ))s)"
endef

$(VENV)/.stamp: requirements.txt requirements-dev.txt
	$(call make_venv,program venv,$(VENV),requirements-dev.txt)

$(POLICY_VENV)/.stamp: policies/requirements.txt
	$(call make_venv,policy pack venv,$(POLICY_VENV),policies/requirements.txt)

# eval "$(make -s env)"
env:
	@$(PYTHON) scripts/toolchain.py env

# pytest exits 5 when it collected no test: that is a failure here, never a silent pass. The engine
# must be complete first (the real-engine tests need it): an incomplete one stops here, with its gaps.
test: setup
	@$(PYTHON) scripts/toolchain.py ready
	@$(ENGINE_ENV); $(VENV)/bin/python -m pytest; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	  exit $$rc

test-unit: venvs
	@$(VENV)/bin/python -m pytest tests/unit tests/policies

lint: venvs
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/actionlint
	$(VENV)/bin/zizmor --offline --quiet .github/workflows

# README.md's configuration reference, generated from the field descriptions in config/.
docs: venvs
	@$(VENV)/bin/python scripts/config_reference.py --write

preview: setup
	@$(ENGINE_ENV); scripts/stack.sh preview $(STACK)$(REFRESH_FLAG)

up: setup
	@$(ENGINE_ENV); scripts/stack.sh up $(STACK)$(REFRESH_FLAG)

# The main job on the embedded default: sandbox up, pulumi up of stack `sandbox`, verify.
demo: setup
	@$(ENGINE_ENV); scripts/demo.sh

sandbox-up: venvs
	@$(VENV)/bin/python -m sandbox up --port-base 47800

sandbox-down: venvs
	@$(VENV)/bin/python -m sandbox down

sandbox-status: venvs
	@$(VENV)/bin/python -m sandbox status

# Client -> gateway -> model with diagnosis; reads the stack's client settings.
verify: setup
	@$(ENGINE_ENV); $(PYTHON) scripts/verify.py --stack $(STACK)

# Benchmarks (bench/README.md): every figure in one run, written to docs/benchmarks.md; the engine
# must be ready (`make setup`). Ansible, the peer of figure 2, goes into a venv of its own.
BENCH_VENV := .build/bench-venv

$(BENCH_VENV)/.stamp: bench/requirements.txt
	$(call make_venv,bench venv,$(BENCH_VENV),bench/requirements.txt)

bench: venvs $(BENCH_VENV)/.stamp
	@PYTHONPATH=. $(VENV)/bin/python -m bench --ansible-bin $(BENCH_VENV)/bin --out docs/benchmarks.md
	@for b in bench/bench_*.py; do PYTHONPATH=. $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf .build .state $(VENV) $(POLICY_VENV)

# Team state (README.md "Team"). The state backend is Pulumi's own PULUMI_BACKEND_URL, for every target
# (unset: the local .state/). A PostgreSQL server for it on this machine (scripts/state_db.py; cluster
# in .state-db/ or $STATE_DB_DIR, port $STATE_DB_PORT or a free one), moving the local stacks to a
# backend (scripts/state_migrate.py, TO=url, FORCE=1 to replace stacks already there), and the drift
# check (scripts/drift.py: `make preview STACK=x REFRESH=1` judged; DRIFT_REPORT=file: the issue's text).
.PHONY: state-server state-up state-down state-status state-url state-migrate drift

ifeq ($(origin BACKEND_URL),command line)
$(error BACKEND_URL is gone: export PULUMI_BACKEND_URL='$(BACKEND_URL)' instead (Pulumi's own variable))
endif

state-server:
	@$(PYTHON) scripts/state_db.py install

state-up: state-server
	@$(PYTHON) scripts/state_db.py up

state-down:
	@$(PYTHON) scripts/state_db.py down

state-status:
	@$(PYTHON) scripts/state_db.py status

state-url:
	@$(PYTHON) scripts/state_db.py url

state-migrate: setup
	@$(ENGINE_ENV); $(PYTHON) scripts/state_migrate.py

drift: setup
	@$(ENGINE_ENV); $(PYTHON) scripts/drift.py check --stack $(STACK)$(if $(DRIFT_REPORT), --report $(DRIFT_REPORT))$(if $(DRIFT_RUN_URL), --run-url '$(DRIFT_RUN_URL)')
