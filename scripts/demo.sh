#!/usr/bin/env bash
# The demo: a generated landing zone, then `cdp run` over its business dates (each day's four
# stages in order, as the daily DAG runs them), then a check that the rejects equal the
# generator's bad-row truth, row counts, and OneID scored against the generator's identity truth.
set -euo pipefail
demo=${1:-demo} start=${2:-2026-01-01} days=${3:-3} persons=${4:-10000}
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CDP_LANDING="$repo/$demo/landing" CDP_LAKEHOUSE="$repo/$demo/lakehouse"
if [ -z "${CDP_PII_SALT:-}" ]; then
    # The CDM and OneID stages refuse to run without a salt (SPEC section 4); set-up wrote one.
    echo "CDP_PII_SALT is not set: the demo uses the local salt in .secrets/pii_salt (written by make setup)"
    export CDP_PII_SALT="$(cat .secrets/pii_salt)"
fi

rm -rf "$CDP_LANDING" "$CDP_LAKEHOUSE"
# The demo's serving tables came from the lakehouse just removed: a newer day left there would
# make the publish stage keep it rather than go back in time.
PGOPTIONS="-c client_min_messages=warning" bash scripts/postgres.sh psql -q -c "DROP SCHEMA IF EXISTS cdp CASCADE"
.venv/bin/cdp generate --out "$CDP_LANDING" --persons "$persons" --start "$start" --days "$days" --seed 7 | tail -n 1
# Every day in order in one Spark session, as a backfill runs: the JVM warms up once.
last=$(date -d "$start + $((days - 1)) day" +%F)
.venv/bin/cdp run --ds "$start" --to "$last"
.venv/bin/cdp check-rejects --truth "$CDP_LANDING/_truth"
# Row counts of the CDM and OneID tables after the last day. Some are restricted (raw
# identifiers), so the counts are read as the data engineer who runs the demo.
counts=""
for table in dim_date dim_region dim_store dim_product dim_channel dim_member fct_order fct_order_item \
             fct_ecom_order_lifecycle fct_trade_daily agg_member_trade fct_points fct_coupon fct_event \
             identity_evidence unknown_references agg_one_id_trade; do
    counts+="${counts:+ UNION ALL }SELECT 'cdm.$table' AS table_name, count(*) AS row_count FROM cdm.$table"
done
for table in id_mapping profile merge_log one_id_alias shared_identifiers record_identity; do
    counts+=" UNION ALL SELECT 'oneid.$table' AS table_name, count(*) AS row_count FROM oneid.$table"
done
.venv/bin/cdp sql "$counts" --limit 50 --role data-engineer
.venv/bin/cdp oneid evaluate --truth "$CDP_LANDING/_truth"
# The ADS layer on the last day: who the customers are, what the tags cover, one segment exported.
.venv/bin/cdp sql "SELECT 'rfm' AS part, rfm_segment_name AS value, count(*) AS one_ids FROM ads.member_rfm WHERE ds = DATE'$last' GROUP BY 1, 2
  UNION ALL SELECT 'lifecycle', stage, count(*) FROM ads.member_lifecycle WHERE ds = DATE'$last' GROUP BY 1, 2
  UNION ALL SELECT 'channels', combination_name, persons FROM ads.channel_overlap WHERE ds = DATE'$last'
  UNION ALL SELECT 'aipl', stage, members FROM ads.aipl WHERE ds = DATE'$last'
  UNION ALL SELECT 'segment', segment, count(*) FROM ads.segment_member WHERE ds = DATE'$last' GROUP BY 1, 2
  ORDER BY 1, 3 DESC" --limit 80
.venv/bin/cdp sql "SELECT category_l1, count(*) AS online_tags, round(avg(coverage), 3) AS mean_coverage,
  sum(CASE WHEN coverage = 0 THEN 1 ELSE 0 END) AS empty_tags FROM ads.tag_catalog
  WHERE ds = DATE'$last' AND status = 'online' GROUP BY 1 ORDER BY 1"
.venv/bin/cdp sql "SELECT metric, round(value, 4) AS value, status FROM ads.model_eval
  WHERE ds = DATE'$last' AND bucket = 'all' ORDER BY metric"
.venv/bin/cdp segment export high_value_sleeping --ds "$last"
# The publish stage left the last day in PostgreSQL: how to look at it through `cdp serve`.
echo "demo: the last day is served from PostgreSQL (schema cdp). To open the 360° customer page:"
echo "  .venv/bin/cdp api-key create staff --scope oneid:read --scope profile:read   # prints the key, once"
echo "  .venv/bin/cdp serve                                                        # then open http://127.0.0.1:8040/ui/ and paste the key"
