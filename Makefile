# Entry points; every target runs inside the project's own virtualenv created by `setup`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo
DEMO_START ?= 2026-01-01
DEMO_DAYS ?= 3
DEMO_PERSONS ?= 10000

.PHONY: setup demo test test-slow bench clean airflow-run

setup:
	bash scripts/setup.sh

# Generates the sample landing zone and runs the daily pipeline for each of its days.
demo: setup
	bash scripts/demo.sh "$(DEMO_DIR)" "$(DEMO_START)" "$(DEMO_DAYS)" "$(DEMO_PERSONS)"

# CI (CI=true) also runs the slow end-to-end tests: they fit well inside its time limit.
test: setup
	$(BIN)/pytest $(if $(filter true,$(CI)),-m "slow or not slow",)

test-slow: setup
	$(BIN)/pytest -m slow

# Stage timings (ODS, CDM, OneID, ADS), OneID accuracy, id stability and incremental == full on 20k persons over 5 days (over an hour on 2 cores).
BENCH_PERSONS ?= 20000
BENCH_DAYS ?= 5
bench: setup
	bash scripts/bench.sh bench "$(DEMO_START)" "$(BENCH_DAYS)" "$(BENCH_PERSONS)"

clean:
	rm -rf $(DEMO_DIR) bench lakehouse landing exports .pytest_cache

# Runs the daily DAG once through Airflow (SQLite metadata) for DS over CDP_LANDING/CDP_LAKEHOUSE.
DS ?= $(DEMO_START)
airflow-run: setup
	source scripts/airflow_env.sh && $(BIN)/airflow dags test cdp_daily $(DS)
