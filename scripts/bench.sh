#!/usr/bin/env bash
# OneID benchmark: PERSONS generated persons over DAYS days through ODS, CDM and OneID (ADS does
# not touch identities), then `cdp oneid evaluate` (accuracy, one_ids per person and per type
# combination, id stability, unexplained one_id changes), `cdp oneid preview` of the shipped
# rules (the weak-join decisions), and the last day's OneID recomputed in full on a copy of
# the lakehouse, compared table for table with the incremental result (oneid.runs and
# oneid.stats record the run itself and differ). Prints a table of seconds per stage and day.
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
    for stage in ods cdm oneid; do
        .venv/bin/cdp run --ds "$ds" --stage "$stage" 2>&1 | tee -a "$log"
    done
    stages=$(grep -E "^== (ods|cdm|oneid) ds=$ds" "$log" | sed -E 's/^== ([a-z]+) ds=[0-9-]+ \(([0-9.]+)s\)/\1 \2/' | tr '\n' ' ')
    timings+=("$ds $stages")
done
.venv/bin/cdp oneid evaluate --truth "$CDP_LANDING/_truth"
.venv/bin/cdp oneid preview --conf conf/oneid.yml
rm -rf "$repo/$dir/full"
cp -r "$CDP_LAKEHOUSE" "$repo/$dir/full"
started=$(date +%s)
.venv/bin/cdp oneid rebuild --ds "$ds" --lakehouse "$repo/$dir/full" | tail -n 3
echo "== full recompute of $ds: $(( $(date +%s) - started )) s; incremental against full, oneid tables"
.venv/bin/cdp compare "$CDP_LAKEHOUSE" "$repo/$dir/full" | grep -E "^(table|oneid\.|cdm\.agg_one_id)" || true
echo "== seconds per stage ($persons persons, $days days, $(nproc) cores)"
printf '%-12s %8s %8s %8s\n' ds ods cdm oneid
for row in "${timings[@]}"; do
    read -r ds _ ods _ cdm _ oneid <<< "$row"
    printf '%-12s %8s %8s %8s\n' "$ds" "$ods" "$cdm" "$oneid"
done
