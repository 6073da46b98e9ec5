# melanoma-exp — every command a person types. `make help` lists them.
# On a fresh clone, `make demo` and `make test` are the only two commands you need: both set up first.

SHELL := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
MLFLOW_PORT ?= 5000
# pytest-xdist processes for `make test`/`make test-fast`; whole files go to one worker (module fixtures)
TEST_WORKERS ?= 2
OPTUNA_PORT ?= 8080

export MLFLOW_DISABLE_TELEMETRY := true
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help setup system-deps demo test test-fast lint data ui serve bench mobile-test lambda-image lock clean

help:  ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-13s %s\n", $$1, $$2}'

setup: $(STAMP)  ## create .venv and install the pinned lock (re-installs only when the lock changes)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)
	@echo "set up: $(VENV) matches requirements.lock"
	@bash .ci/system-deps.sh --warn

system-deps:  ## check the system tools the tests use (Chromium, JDK, JUnit, aapt2, PostgreSQL, npm); install them as root
	@bash .ci/system-deps.sh

demo: setup  ## synthetic data -> prepare -> train the demo model -> summary (minutes on 2 CPU cores)
	$(PY) -m melanoma_exp.commands.demo

test: setup system-deps  ## the whole test suite, slow end-to-end tests included; ends with the slowest tests
	$(PY) -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --durations=25

test-fast: setup system-deps  ## quick iteration: everything not marked slow
	$(PY) -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile -m "not slow"

lint: setup  ## ruff
	$(VENV)/bin/ruff check melanoma_exp hydra_plugins serving tests bench run.py

data: setup  ## download the real ISIC archive (needs network + disk) and prepare it
	$(VENV)/bin/melanoma data download --out data/isic/raw
	$(VENV)/bin/melanoma data prepare data=isic

ui: setup  ## MLflow UI and optuna-dashboard on 127.0.0.1 (MLFLOW_PORT, OPTUNA_PORT)
	$(VENV)/bin/melanoma ui --mlflow-port $(MLFLOW_PORT) --optuna-port $(OPTUNA_PORT)

serve: setup  ## serve the champion model on HOST:PORT (exports it first if no bundle exists)
	$(VENV)/bin/melanoma serve --host $(HOST) --port $(PORT)

bench: setup  ## run every benchmark and write BENCHMARKS.md
	$(PY) -m bench

mobile-test: setup  ## compile the Kotlin core and run its JUnit tests against the real serving app
	$(MAKE) -C mobile test PY=$(abspath $(PY))

lambda-image:  ## build the AWS Lambda container image (needs Docker)
	docker build -f serving/Dockerfile -t melanoma-exp-lambda .

lock: ## regenerate requirements.lock from the current .venv (after changing pins in pyproject.toml)
	$(PY) -m pip freeze --exclude-editable | grep -v '^melanoma-exp' > requirements.lock

clean:  ## remove generated data, outputs and caches (keeps .venv)
	rm -rf data outputs multirun .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
