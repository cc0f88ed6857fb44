"""A real `cdp serve` over a database of its own on the project's PostgreSQL, for the serving tests.

The database ``cdp_serving_test`` is made anew from ``jobs/serving/schema.sql`` and filled with the
small golden rows below; the server runs as a subprocess on a free port, as `cdp serve` runs it,
and is shared by every serving test module of the run. A missing server fails the tests, loudly.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import asyncpg
import httpx
import pytest

from jobs.config import REPO_ROOT, load_settings
from jobs.serving.keys import ONEID_READ, PROFILE_READ, key_hash

DATABASE = "cdp_serving_test"
EMPTY_DATABASE = "cdp_serving_test_empty"
SCHEMA_FILE = REPO_ROOT / "jobs" / "serving" / "schema.sql"
OUTPUT = REPO_ROOT / "test-results" / "serving"
# Keys of the test run only: their hashes go to a temporary keys file, as `cdp api-key create` writes.
CRM_KEY, STAFF_KEY, PROFILE_ONLY_KEY = "cdp_test-crm-key", "cdp_test-staff-key", "cdp_test-profile-only"
OPENID = "oQ7d_zhangwei_A1"

DS = date(2026, 1, 4)
SEEN = datetime(2026, 1, 3, 9, 30)
# Zhang Wei (OID_A) has every kind of identifier; Li Na (OID_B) a mobile and a member id.
ID_MAPPING = [
    ("member_id", "M0001", "OID_A"), ("card_no", "C8800000001", "OID_A"), ("mobile", "13800138000", "OID_A"),
    ("email", "zhang.wei@qq.com", "OID_A"), ("wx_openid", OPENID, "OID_A"), ("wx_unionid", "o6_unionA", "OID_A"),
    ("device_id", "6d92078a-8246-4ba4-ae5b-76104861e7dc", "OID_A"), ("ecom_buyer_id", "tmall:tb0001", "OID_A"),
    ("mobile", "13900139000", "OID_B"), ("member_id", "M0002", "OID_B"),
    ("member_id", "M0003", "OID_C"),
]
# OID_OLD merged into OID_A on 2026-01-03; OID_B split off OID_C; OID_R retired.
ALIASES = [("OID_OLD", "OID_A", date(2026, 1, 3))]
MERGE_LOG = [
    (date(2026, 1, 2), "OID_X", "OID_B", "merge", "member_id M0002 links them"),
    (date(2026, 1, 3), "OID_OLD", "OID_A", "merge", "mobile 138****8000 links them"),
    (date(2026, 1, 3), "OID_B", "OID_C", "split", "a stronger claim took M0003 back"),
    (date(2026, 1, 4), "OID_R", None, "retired", "its identifiers joined others"),
]
PROFILES = [
    ("OID_A", "M0001", "138****8000", "hash-a", "z***@qq.com", "hash-ae", "o6_unionA", "张伟", "M", date(1990, 5, 1),
     "浙江省", "杭州市"),
    ("OID_B", "M0002", "139****9000", "hash-b", None, None, None, "李娜", "F", None, "上海市", "上海市"),
    ("OID_C", "M0003", None, None, None, None, None, "张伟", "M", None, "北京市", "北京市"),
]
TAGS = [
    ("OID_A", "gender", "男", "性别", "gender", "基础属性/人口", "基础属性", "enum"),
    ("OID_A", "city_tier", "新一线", "城市等级", "city tier", "基础属性/地域", "基础属性", "enum"),
    ("OID_A", "order_count_365d", "7", "近365天订单数", "orders in 365 days", "消费行为/频次", "消费行为", "number"),
    ("OID_A", "high_value", "true", "高价值", "high value", "价值分层", "价值分层", "boolean"),
]
ORDERS = [
    ("OID_A", "pos:P1001", "P1001", "pos", None, "store", "门店", "S01", "sale", "completed",
     datetime(2026, 1, 2, 15, 20), Decimal("299.00")),
    ("OID_A", "ecom:tmall:T2002", "T2002", "ecom", "tmall", "tmall", "天猫", None, "sale", "received",
     datetime(2026, 1, 3, 20, 5), Decimal("158.50")),
]
EVENTS = [
    ("OID_A", "E1", datetime(2026, 1, 3, 19, 58), "product_view", "小程序", "SKU9", "羊毛大衣"),
    ("OID_A", "E2", datetime(2026, 1, 3, 19, 59), "add_cart", "小程序", "SKU9", "羊毛大衣"),
    ("OID_A", "E3", datetime(2026, 1, 4, 8, 10), "sign_in", "小程序", None, None),
]
TABLES = ("id_mapping", "one_id_alias", "merge_log", "profile", "tag_value", "member_rfm", "member_lifecycle",
          "segment_member", "recent_order", "recent_event", "published_tables")


@dataclass(frozen=True)
class Server:
    url: str
    log: Path
    postgres_dsn: dict

    def client(self, key: str | None = CRM_KEY) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": key} if key else {}, timeout=10)

    def count_rows(self) -> dict[str, int]:
        async def count() -> dict[str, int]:
            connection = await asyncpg.connect(**self.postgres_dsn)
            try:
                return {table: await connection.fetchval(f"SELECT count(*) FROM cdp.{table}") for table in TABLES}
            finally:
                await connection.close()

        return asyncio.run(count())


def postgres_dsn(database: str) -> dict:
    postgres = load_settings().postgres
    return {"host": postgres.host, "port": postgres.port, "user": postgres.user, "password": postgres.password(),
            "database": database}


async def _recreate(database: str) -> None:
    admin_dsn = postgres_dsn(load_settings().postgres.database)
    try:
        admin = await asyncpg.connect(**admin_dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.fail(f"the serving PostgreSQL at {admin_dsn['host']}:{admin_dsn['port']} does not answer ({error}); "
                    "start it with `bash scripts/postgres.sh` (`make setup` does)", pytrace=False)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()


def empty_database() -> str:
    """A database of the serving server with nothing published in it, made anew."""
    asyncio.run(_recreate(EMPTY_DATABASE))
    return EMPTY_DATABASE


async def _fill() -> None:
    await _recreate(DATABASE)
    connection = await asyncpg.connect(**postgres_dsn(DATABASE))
    try:
        await connection.execute(SCHEMA_FILE.read_text(encoding="utf-8"))
        await connection.copy_records_to_table(
            "id_mapping", schema_name="cdp", columns=["id_type", "id_value", "one_id", "first_seen", "last_seen", "sources"],
            records=[(*row, SEEN, SEEN, ["crm"]) for row in ID_MAPPING])
        await connection.copy_records_to_table("one_id_alias", schema_name="cdp", records=ALIASES)
        await connection.copy_records_to_table("merge_log", schema_name="cdp", records=MERGE_LOG)
        await connection.copy_records_to_table(
            "profile", schema_name="cdp",
            columns=["one_id", "member_id", "mobile_masked", "mobile_hash", "email_masked", "email_hash", "wx_unionid",
                     "name", "gender", "birthday", "province", "city", "sources", "first_seen", "last_seen", "updated_ds"],
            records=[(*row, ["crm", "wechat"], SEEN, SEEN, DS) for row in PROFILES])
        await connection.copy_records_to_table(
            "tag_value", schema_name="cdp",
            columns=["ds", "one_id", "tag_code", "tag_value", "name_zh", "name_en", "category_path", "category_l1",
                     "value_type"],
            records=[(DS, *row) for row in TAGS])
        await connection.execute(
            "INSERT INTO cdp.member_rfm VALUES ($1, 'OID_A', 1, 7, 2300.50, 5, 4, 4, '544', 'champions', "
            "'2025-02-01', '2026-01-03')", DS)
        await connection.execute(
            "INSERT INTO cdp.member_lifecycle VALUES ($1, 'OID_A', 'loyal', '2025-11-20', 7, '2025-02-01', '2026-01-03', 1)", DS)
        await connection.copy_records_to_table(
            "segment_member", schema_name="cdp",
            records=[(DS, "high_value_active", "OID_A"), (DS, "wechat_engaged", "OID_A")])
        await connection.copy_records_to_table(
            "recent_order", schema_name="cdp",
            columns=["one_id", "order_key", "order_id", "order_source", "platform", "channel_id", "channel_name",
                     "store_id", "order_type", "order_status", "order_at", "net_paid_amount"],
            records=ORDERS)
        await connection.copy_records_to_table(
            "recent_event", schema_name="cdp",
            columns=["one_id", "event_id", "event_at", "event_type", "channel_name", "sku_id", "sku_name"],
            records=EVENTS)
        await connection.copy_records_to_table(
            "published_tables", schema_name="cdp",
            records=[(table, DS, 1, datetime.now().astimezone()) for table in TABLES if table != "published_tables"])
    finally:
        await connection.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@lru_cache(maxsize=1)
def shared_server() -> Server:
    """Fills the test database and starts one server for the whole test run."""
    asyncio.run(_fill())
    OUTPUT.mkdir(parents=True, exist_ok=True)
    keys_file = OUTPUT / "api_keys.json"
    keys_file.write_text(json.dumps([
        {"name": "crm", "sha256": key_hash(CRM_KEY), "scopes": [ONEID_READ]},
        {"name": "staff", "sha256": key_hash(STAFF_KEY), "scopes": [ONEID_READ, PROFILE_READ]},
        {"name": "profile-only", "sha256": key_hash(PROFILE_ONLY_KEY), "scopes": [PROFILE_READ]},
    ]), encoding="utf-8")
    port = _free_port()
    log = OUTPUT / "server.log"
    environment = {**os.environ, "CDP_SERVE_DATABASE": DATABASE, "CDP_API_KEYS_FILE": str(keys_file)}
    process = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=REPO_ROOT, env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT)
    atexit.register(process.terminate)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"cdp serve exited with {process.returncode}:\n{log.read_text()}", pytrace=False)
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return Server(url, log, postgres_dsn(DATABASE))
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    pytest.fail(f"cdp serve did not answer /healthz within 30 s:\n{log.read_text()}", pytrace=False)
