# Sourced by set-up and the Makefile: Airflow on its own SQLite database inside the repository.
repo=${repo:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export AIRFLOW_HOME="$repo/.airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$repo/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
