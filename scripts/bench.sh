#!/usr/bin/env bash
# Benchmark: PERSONS generated persons over DAYS days through the whole daily pipeline (ODS, CDM,
# OneID, ADS), then OneID's accuracy against the generator's truth, id stability run over run,
# and a full recompute compared with the incremental result. Prints a table of seconds per
# stage and day, and the ADS tables' sizes and seconds on the last day.
set -euo pipefail
dir=${1:-bench} start=${2:-2026-01-01} days=${3:-5} persons=${4:-20000}
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CDP_LANDING="$repo/$dir/landing" CDP_LAKEHOUSE="$repo/$dir/lakehouse"
export CDP_PII_SALT="${CDP_PII_SALT:-$(cat .secrets/pii_salt)}"
log="$repo/$dir/bench.log"

rm -rf "$CDP_LANDING" "$CDP_LAKEHOUSE"
mkdir -p "$repo/$dir"
: > "$log"
.venv/bin/cdp generate --out "$CDP_LANDING" --persons "$persons" --start "$start" --days "$days" --seed 11 | tail -n 1
timings=()
for offset in $(seq 0 $((days - 1))); do
    ds=$(date -d "$start + $offset day" +%F)
    .venv/bin/cdp run --ds "$ds" | tee -a "$log"
    stages=$(grep -E "^== (ods|cdm|oneid|ads) ds=$ds" "$log" | sed -E 's/^== ([a-z]+) ds=[0-9-]+ \(([0-9.]+)s\)/\1 \2/' | tr '\n' ' ')
    timings+=("$ds $stages")
done
.venv/bin/cdp oneid evaluate --truth "$CDP_LANDING/_truth"
.venv/bin/cdp oneid preview --conf conf/oneid.yml
echo "== seconds per stage ($persons persons, $days days, $(nproc) cores)"
printf '%-12s %8s %8s %8s %8s\n' ds ods cdm oneid ads
for row in "${timings[@]}"; do
    read -r ds _ ods _ cdm _ oneid _ ads <<< "$row"
    printf '%-12s %8s %8s %8s %8s\n' "$ds" "$ods" "$cdm" "$oneid" "$ads"
done
echo "== ADS tables on $ds (rows, seconds)"
sed -n "/^== ads ds=$ds/,/^==/p" "$log" | grep -E "^ads\.|^tags|^model"
