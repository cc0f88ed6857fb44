# Sourced by set-up and the Makefile: Airflow on its own SQLite database inside the repository.
repo=${repo:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export AIRFLOW_HOME="$repo/.airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$repo/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# The PII salt of this checkout (written by set-up, git-ignored) unless the caller set one.
if [ -z "${CDP_PII_SALT:-}" ] && [ -f "$repo/.secrets/pii_salt" ]; then
    export CDP_PII_SALT="$(cat "$repo/.secrets/pii_salt")"
fi
