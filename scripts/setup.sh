#!/usr/bin/env bash
# One-command set-up: virtualenv at .venv, the package with its pinned dependencies, the JVM
# jars in .jars/ and the serving PostgreSQL (scripts/postgres.sh). Each step is skipped when its
# inputs have not changed since it last ran, so a second run is a no-op.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

python=${PYTHON:-python3.11}
venv=.venv
jars=.jars

fingerprint() { cat "$@" | sha256sum | cut -c1-16; }

step_venv() {
    if [ ! -x "$venv/bin/python" ]; then
        echo "setup: creating $venv with $python"
        "$python" -m venv "$venv"
        "$venv/bin/pip" install -q --upgrade pip
    fi
    local stamp="$venv/.installed-$(fingerprint pyproject.toml)"
    if [ ! -f "$stamp" ]; then
        echo "setup: installing the cdp package and its pinned dependencies"
        "$venv/bin/pip" install -q -e ".[test,bench]"
        rm -f "$venv"/.installed-*
        touch "$stamp"
    fi
}

# Resolves one pom's dependencies into $jars; `includeGroupIds` keeps out the Scala, Hadoop
# and Jackson jars PySpark already ships.
copy_jars() {
    local pom=$1 groups=$2
    mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
        -DoutputDirectory="$repo/$jars" -DincludeScope=runtime -DincludeGroupIds="$groups" \
        | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d'
}

step_jars() {
    local stamp="$jars/.resolved-$(fingerprint scripts/jars/pom.xml)"
    if [ ! -f "$stamp" ]; then
        echo "setup: resolving Delta and PostgreSQL jars with Maven into $jars/"
        mkdir -p "$jars"
        copy_jars scripts/jars/pom.xml io.delta,org.postgresql
        rm -f "$jars"/.resolved-*
        touch "$stamp"
    fi
    local gf_stamp="$jars/.graphframes-$(fingerprint scripts/jars/graphframes.pom.xml)"
    if [ ! -f "$gf_stamp" ]; then
        if copy_jars scripts/jars/graphframes.pom.xml io.graphframes >/dev/null 2>&1; then
            rm -f "$jars"/.graphframes-*
            touch "$gf_stamp"
        else
            echo "setup: WARNING: the GraphFrames jars (io.graphframes:graphframes-spark4_2.13) are not" \
                 "resolvable from Maven Central here; GraphFrames-based tests are skipped and OneID" \
                 "cannot use the GraphFrames engine until they are." >&2
        fi
    fi
}

# Airflow's scheduler database for the embedded default: SQLite under .airflow/.
step_airflow() {
    source scripts/airflow_env.sh
    if [ ! -f "$AIRFLOW_HOME/airflow.db" ]; then
        echo "setup: creating Airflow's SQLite database in $AIRFLOW_HOME"
        "$venv/bin/airflow" db migrate >/dev/null
    fi
}

step_venv
step_jars
# The salt of masked-and-hashed mobiles and emails (SPEC section 4) comes from CDP_PII_SALT,
# never from the repository: set-up draws a random one for this checkout into .secrets/.
step_pii_salt() {
    if [ ! -f .secrets/pii_salt ]; then
        mkdir -p .secrets && chmod 700 .secrets
        (umask 077 && "$venv/bin/python" -c "import secrets; print(secrets.token_hex(32))" > .secrets/pii_salt)
    fi
}

# What `cdp serve`'s page test and benchmark drive: Debian's headless Chromium with its driver,
# a CJK font for the screenshots' Chinese names and tags, and wrk. Installed only when missing.
step_browser_and_load_tools() {
    local missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    command -v wrk >/dev/null || missing+=(wrk)
    [ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing+=(fonts-wqy-zenhei)
    [ ${#missing[@]} -eq 0 ] && return
    echo "setup: installing ${missing[*]} with apt-get"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

step_airflow
step_pii_salt
step_browser_and_load_tools
# The serving database the publish stage loads (a no-op when it already runs).
bash scripts/postgres.sh
echo "setup: ready ($venv, $jars/, .airflow/, PostgreSQL in .pg/)"
