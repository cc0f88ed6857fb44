# Entry points; every target runs inside the project's own virtualenv created by `setup`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo
DEMO_START ?= 2026-01-01
DEMO_DAYS ?= 3
DEMO_PERSONS ?= 10000

.PHONY: setup demo test test-slow bench bench-oneid cluster-check clean airflow-run

setup:
	bash scripts/setup.sh

# Generates the sample landing zone and runs the daily pipeline for each of its days.
demo: setup
	bash scripts/demo.sh "$(DEMO_DIR)" "$(DEMO_START)" "$(DEMO_DAYS)" "$(DEMO_PERSONS)"

# CI (CI=true) also runs the slow end-to-end tests, and prints the slowest tests' durations.
test: setup
	$(BIN)/pytest $(if $(filter true,$(CI)),-m "slow or not slow" --durations=30,)

test-slow: setup
	$(BIN)/pytest -m slow

# Per scale: a history-load day and incremental days through `cdp run`, each stage's and
# table's seconds, jobs, commits, suites and peak memory, the polars floor, the fitted slope,
# and OneID's component engines side by side; the report is saved under bench/.
# BENCH_RESUME=1 keeps the scales already generated and runs only their days not yet measured.
BENCH_SCALES ?= 20000 100000 300000 1000000
BENCH_DAYS ?= 2
bench: setup
	CDP_PII_SALT="$$(cat .secrets/pii_salt)" $(BIN)/cdp bench --out bench --scales "$(BENCH_SCALES)" --days $(BENCH_DAYS) \
		$(if $(BENCH_RESUME),--resume,)

# OneID over 5 days (ODS, CDM, OneID): accuracy, one_ids per person and per type combination,
# id stability, the weak-join decisions, and incremental == full on the last day.
BENCH_PERSONS ?= 10000
bench-oneid: setup
	bash scripts/bench.sh bench/oneid "$(DEMO_START)" 5 "$(BENCH_PERSONS)"

# The same day on a Spark standalone cluster (a master and two workers started from the
# installed pyspark) and in local mode, then every table compared row for row.
CHECK_PERSONS ?= 3000
cluster-check: setup
	bash scripts/cluster_check.sh "$(CHECK_PERSONS)" "$(DEMO_START)"

clean:
	rm -rf $(DEMO_DIR) bench/p* bench/report-* bench/oneid lakehouse landing exports .pytest_cache .spark-standalone

# Runs the daily DAG once through Airflow (SQLite metadata) for DS over CDP_LANDING/CDP_LAKEHOUSE.
DS ?= $(DEMO_START)
airflow-run: setup
	source scripts/airflow_env.sh && $(BIN)/airflow dags test cdp_daily $(DS)
