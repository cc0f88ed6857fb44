"""What ``cdp serve`` asks PostgreSQL: the tables of ``jobs/serving/schema.sql`` in schema ``cdp``.

Every value travels as a bind parameter, never inside the SQL text. A profile and a search are
each one statement: the statement locks every table it reads before it reads any, and the
publish stage swaps all tables in one transaction, so an answer comes wholly from the old
tables or wholly from the new ones, never from both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Sequence

import asyncpg
import orjson

@dataclass(frozen=True)
class OneIdAnswer:
    one_id: str | None  # the current id; None when the asked one is unknown
    merged_ds: date | None  # set when the asked id was merged away into ``one_id``
    retired_ds: date | None  # set when the asked id is gone and nothing answers for it


LOOKUP = "SELECT one_id FROM cdp.id_mapping WHERE id_type = $1 AND id_value = $2"

LOOKUP_MANY = """
SELECT k.position, m.one_id
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(id_type, id_value, position)
JOIN cdp.id_mapping AS m ON m.id_type = k.id_type AND m.id_value = k.id_value
"""

# An id in the profile table is current; a merged-away one has an alias; a retired one only a
# merge_log row of kind 'retired'.
RESOLVE_ONE_IDS = """
SELECT k.position, coalesce(p.one_id, a.one_id) AS one_id, a.merged_ds,
       (SELECT max(r.ds) FROM cdp.merge_log AS r WHERE r.from_one_id = k.one_id AND r.kind = 'retired'
        AND p.one_id IS NULL AND a.one_id IS NULL) AS retired_ds
FROM unnest($1::text[]) WITH ORDINALITY AS k(one_id, position)
LEFT JOIN cdp.profile AS p ON p.one_id = k.one_id
LEFT JOIN cdp.one_id_alias AS a ON a.alias_one_id = k.one_id AND p.one_id IS NULL
"""

PROFILE = """
WITH asked AS (SELECT $1::text AS one_id),
alias AS (SELECT a.one_id, a.merged_ds FROM cdp.one_id_alias AS a JOIN asked ON a.alias_one_id = asked.one_id),
target AS (SELECT coalesce((SELECT one_id FROM alias), (SELECT one_id FROM asked)) AS one_id)
SELECT
  (SELECT one_id FROM target) AS one_id,
  (SELECT merged_ds FROM alias) AS merged_ds,
  (SELECT row_to_json(p) FROM cdp.profile AS p JOIN target USING (one_id)) AS profile,
  (SELECT json_agg(i ORDER BY i.id_type, i.last_seen DESC NULLS LAST) FROM (
     SELECT m.id_type, m.id_value, m.first_seen, m.last_seen, m.sources
     FROM cdp.id_mapping AS m JOIN target USING (one_id) ORDER BY m.last_seen DESC NULLS LAST LIMIT $2) AS i)
    AS identifiers,
  (SELECT json_agg(t ORDER BY t.category_path, t.tag_code) FROM (
     SELECT v.tag_code, v.tag_value, v.name_zh, v.name_en, v.category_path, v.category_l1, v.value_type, v.ds
     FROM cdp.tag_value AS v JOIN target USING (one_id)) AS t) AS tags,
  (SELECT row_to_json(r) FROM cdp.member_rfm AS r JOIN target USING (one_id)) AS rfm,
  (SELECT row_to_json(l) FROM cdp.member_lifecycle AS l JOIN target USING (one_id)) AS lifecycle,
  (SELECT json_agg(s.segment ORDER BY s.segment) FROM cdp.segment_member AS s JOIN target USING (one_id))
    AS segments,
  (SELECT json_agg(o) FROM (
     SELECT o.order_key, o.order_id, o.order_source, o.platform, o.channel_id, o.channel_name, o.store_id,
            o.order_type, o.order_status, o.order_at, o.order_date, o.item_count, o.paid_amount,
            o.refund_amount, o.net_paid_amount
     FROM cdp.recent_order AS o JOIN target USING (one_id) ORDER BY o.order_at DESC NULLS LAST LIMIT $3) AS o)
    AS orders,
  (SELECT json_agg(e) FROM (
     SELECT e.event_id, e.event_at, e.event_date, e.event_type, e.app_id, e.channel_id, e.channel_name, e.page,
            e.sku_id, e.sku_name, e.search_keyword
     FROM cdp.recent_event AS e JOIN target USING (one_id) ORDER BY e.event_at DESC NULLS LAST LIMIT $4) AS e)
    AS events,
  (SELECT json_object_agg(t.table_name, json_build_object('ds', t.ds, 'published_at', t.published_at))
   FROM cdp.published_tables AS t) AS published
"""

# Identifier candidates (types and values) and the text as a one_id or a name, in one statement.
# A name matches whole or as its beginning (staff type a surname, 张, and pick); whole matches
# and identifiers come before names that only begin so. The beginning is a byte-wise range (the
# text up to the text followed by the last code point), which the index on name text_pattern_ops
# serves even in the generic plan of a prepared statement, where LIKE $n could not use it; read
# in that index's order, a surname shared by millions costs the first `limit` rows, whole names
# first, not a sort of millions.
SEARCH = """
WITH hits AS (
  SELECT m.one_id, m.id_type AS matched_by
  FROM unnest($1::text[], $2::text[]) AS k(id_type, id_value)
  JOIN cdp.id_mapping AS m ON m.id_type = k.id_type AND m.id_value = k.id_value
  UNION ALL
  SELECT coalesce(p.one_id, a.one_id), 'one_id'
  FROM (SELECT $3::text AS one_id) AS asked
  LEFT JOIN cdp.profile AS p ON p.one_id = asked.one_id
  LEFT JOIN cdp.one_id_alias AS a ON a.alias_one_id = asked.one_id
  WHERE p.one_id IS NOT NULL OR a.one_id IS NOT NULL
  UNION ALL
  (SELECT p.one_id, CASE WHEN p.name = $3 THEN 'name' ELSE 'name_prefix' END
   FROM cdp.profile AS p WHERE p.name ~>=~ $3 AND p.name ~<~ ($3 || U&'\+10FFFF')
   ORDER BY p.name USING ~<~, p.one_id LIMIT $4)
)
SELECT p.one_id, array_agg(DISTINCT h.matched_by ORDER BY h.matched_by) AS matched_by, p.name, p.gender,
       p.mobile_masked, p.province, p.city, p.last_seen
FROM hits AS h JOIN cdp.profile AS p USING (one_id)
GROUP BY p.one_id, p.name, p.gender, p.mobile_masked, p.province, p.city, p.last_seen
ORDER BY bool_and(h.matched_by = 'name_prefix'), p.last_seen DESC NULLS LAST, p.one_id
LIMIT $4
"""

# Keyset pages over the merge log's key; `after` is the last key of the previous page.
CHANGES = """
SELECT ds, from_one_id, to_one_id, kind, reason
FROM cdp.merge_log
WHERE ds >= $1
  AND ($2::date IS NULL OR (ds, from_one_id, kind, coalesce(to_one_id, '')) > ($2, $3, $4, $5))
ORDER BY ds, from_one_id, kind, coalesce(to_one_id, '')
LIMIT $6
"""

MERGE_LOG_PUBLISHED = "SELECT ds, published_at FROM cdp.published_tables WHERE table_name = 'merge_log'"


async def lookup(pool: asyncpg.Pool, id_type: str, id_value: str) -> str | None:
    return await pool.fetchval(LOOKUP, id_type, id_value)


async def lookup_many(pool: asyncpg.Pool, keys: Sequence[tuple[str, str]]) -> dict[int, str]:
    """one_id by position (0-based) in ``keys``, for the keys the mapping holds."""
    if not keys:
        return {}
    rows = await pool.fetch(LOOKUP_MANY, [id_type for id_type, _ in keys], [value for _, value in keys])
    return {row["position"] - 1: row["one_id"] for row in rows}


async def resolve_one_ids(pool: asyncpg.Pool, one_ids: Sequence[str]) -> list[OneIdAnswer]:
    rows = await pool.fetch(RESOLVE_ONE_IDS, list(one_ids))
    by_position = {row["position"] - 1: row for row in rows}
    return [OneIdAnswer(by_position[i]["one_id"], by_position[i]["merged_ds"], by_position[i]["retired_ds"])
            for i in range(len(one_ids))]


async def profile(pool: asyncpg.Pool, one_id: str, identifiers: int, orders: int, events: int) -> dict[str, Any]:
    """The stored parts of a profile, JSON columns decoded; ``profile`` is None for an unknown id."""
    row = await pool.fetchrow(PROFILE, one_id, identifiers + 1, orders, events)
    parts = dict(row)
    for name in ("profile", "identifiers", "tags", "rfm", "lifecycle", "segments", "orders", "events", "published"):
        parts[name] = orjson.loads(parts[name]) if parts[name] is not None else None
    return parts


async def search(pool: asyncpg.Pool, keys: Sequence[tuple[str, str]], text: str, limit: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(SEARCH, [t for t, _ in keys], [v for _, v in keys], text, limit)
    return [dict(row) for row in rows]


async def changes(pool: asyncpg.Pool, since: date, after: tuple[date, str, str, str] | None,
                  limit: int) -> list[dict[str, Any]]:
    after_ds, after_from, after_kind, after_to = after or (None, None, None, None)
    rows = await pool.fetch(CHANGES, since, after_ds, after_from, after_kind, after_to, limit)
    return [dict(row) for row in rows]


async def merge_log_published(pool: asyncpg.Pool) -> dict[str, Any] | None:
    row = await pool.fetchrow(MERGE_LOG_PUBLISHED)
    return dict(row) if row else None
