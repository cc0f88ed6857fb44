#!/usr/bin/env bash
# One generated day through the whole pipeline twice, on the embedded default (local[2]) and on
# a Spark standalone cluster (CDP_ENV=standalone, same code), then every table compared.
set -euo pipefail
persons=${1:-3000} ds=${2:-2026-01-01}
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CDP_PII_SALT="${CDP_PII_SALT:-$(cat .secrets/pii_salt)}"
root="$repo/.spark-standalone/check"
rm -rf "$root" && mkdir -p "$root"
.venv/bin/cdp generate --out "$root/landing" --persons "$persons" --start "$ds" --days 1 --seed 5 | tail -n 1
bash scripts/standalone.sh start
trap 'bash scripts/standalone.sh stop' EXIT
for env in standalone local; do
    started=$(date +%s)
    CDP_ENV=$env .venv/bin/cdp run --ds "$ds" --landing "$root/landing" --lakehouse "$root/$env" > "$root/$env.log"
    echo "cluster-check: $env day in $(( $(date +%s) - started ))s"
done
.venv/bin/cdp compare "$root/local" "$root/standalone"
