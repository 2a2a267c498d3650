# The two commands a newcomer needs are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Before every target but help and clean, scripts/bootstrap.py installs what this machine
# lacks (quick when nothing is), its progress showing as it goes. When something cannot be
# installed from here, make stops at once with the one line that says what to run. Not for
# `make -n`/`-q` (shell completion runs those).
ifeq ($(findstring n,$(firstword -$(MAKEFLAGS)))$(findstring q,$(firstword -$(MAKEFLAGS))),)
ifneq ($(filter-out help clean,$(or $(MAKECMDGOALS),help)),)
BOOTSTRAP_ERROR := $(shell $(PYTHON) scripts/bootstrap.py 3>&1 1>&2 2>&3)
ifneq ($(.SHELLSTATUS),0)
$(error $(strip $(patsubst error:%,%,$(BOOTSTRAP_ERROR))))
endif
endif
endif

.PHONY: help bootstrap install demo demo-down test test-unit test-integration test-chaos lint stack-up stack-down stack-status bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,spark]'
	@touch $(STAMP)

bootstrap: ## install the system packages, Go check and Airflow virtualenv this machine lacks
	@:

install: $(STAMP) ## create .venv and install the project into it (pip install -e .[dev,spark])

demo: install ## the main job: stack up, schema, connector, a live change captured
	$(BIN)/ecom demo

demo-down: install ## stop everything the demo started
	$(BIN)/ecom demo --down

test: install ## every test: unit, then integration against the real local stack
	$(BIN)/pytest

test-unit: install ## fast tests, no services
	$(BIN)/pytest tests/unit

test-integration: install ## tests against the real stack (started once per session)
	$(BIN)/pytest tests/integration

test-chaos: install ## fault drills under live load (also part of `make test`)
	$(BIN)/pytest -m chaos tests/chaos

lint: install ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy

stack-up: install ## start Postgres, Kafka, Connect, MinIO
	$(BIN)/ecom stack up

stack-down: install ## stop the stack (data kept)
	$(BIN)/ecom stack down

stack-status: install
	$(BIN)/ecom stack status

bench: install ## benchmark suite on the bench stack (bench/; ARGS="--skip stream@10" etc.)
	$(BIN)/python -m bench $(ARGS)

clean: ## remove the virtualenv (stack data stays; see `ecom stack reset`)
	rm -rf $(VENV) *.egg-info
