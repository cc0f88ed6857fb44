"""CDM facts on small golden extracts: allocation to the cent, returns, refunds, late and
re-extracted rows, accumulating snapshots folded in any arrival order, windows, evidence.

Every input is an ODS frame of the exact ODS schema (``conf/sources.yml`` plus lineage); every
expected frame is written out by hand.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from random import Random

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.config import load_contracts
from models.ods.anomalies import parse_rules
from models.cdm import (
    agg_member_trade,
    fct_coupon,
    fct_ecom_order_lifecycle,
    fct_event,
    fct_order,
    fct_order_item,
    fct_points,
    fct_trade_daily,
    identity_evidence,
)

DS = date(2026, 1, 5)
D = Decimal
CONTRACTS = {contract.table_name: contract for contract in load_contracts()}
# How models.ods types each contract column type.
ODS_TYPES = {
    "string": "string",
    "enum": "string",
    "timestamp": "timestamp_ntz",
    "date": "date",
    "decimal": "decimal(18,2)",
    "int": "int",
    "list": "array<string>",
    "items": "array<struct<sku_id: string, qty: int, unit_price: decimal(18,2), amount: decimal(18,2)>>",
    "object": "map<string, string>",
}
LINEAGE_DDL = "source_file string, source_line bigint, ingest_run_id string, dt date"


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def landing_file(table: str, dt: date) -> str:
    contract = CONTRACTS[table]
    return f"{contract.source}/{contract.entity}/dt={dt.isoformat()}/part-0"


def version(table: str, dt: date, line: int) -> str:
    """The sortable source version of an ODS row written in the default landing file."""
    return f"{dt.isoformat()}|{landing_file(table, dt)}|{line:010d}"


def ods(spark: SparkSession, table: str, rows: list[dict], dt: date = DS) -> DataFrame:
    """An ODS frame: contract columns (absent ones null) then lineage.

    Lineage defaults to one landing file per dt and the row's position in ``rows`` as its line.
    """
    contract = CONTRACTS[table]
    columns = ", ".join(f"`{spec.name}` {ODS_TYPES[spec.type]}" for spec in contract.columns)
    ddl = f"{columns}, {LINEAGE_DDL}"
    names = [*contract.column_names, "source_file", "source_line", "ingest_run_id", "dt"]
    records = []
    for line, row in enumerate(rows, start=1):
        unknown = set(row) - set(names)
        assert not unknown, f"{table} has no columns {unknown}"
        row_dt = row.get("dt", dt)
        full = {"source_file": landing_file(table, row_dt), "source_line": line, "ingest_run_id": "run-1",
                "dt": row_dt, **row}
        records.append(tuple(full.get(name) for name in names))
    return spark.createDataFrame(records, ddl)


def frame(spark: SparkSession, ddl: str, rows: list[dict]) -> DataFrame:
    """A frame of ``ddl`` from dicts that name every column exactly."""
    schema = spark.createDataFrame([], ddl).schema
    names = schema.fieldNames()
    for row in rows:
        assert sorted(row) == sorted(names), f"row columns differ: {set(row) ^ set(names)}"
    return spark.createDataFrame([tuple(row[name] for name in names) for row in rows], schema)


def materialized(result: DataFrame) -> DataFrame:
    """``result`` computed once, so that frames built on it do not compute it again."""
    return result.sparkSession.createDataFrame(result.collect(), result.schema)


def merged(table: DataFrame | None, output: DataFrame, keys: list[str]) -> DataFrame:
    """The table after a MERGE of ``output`` on ``keys`` that replaces matched rows."""
    rows = {}
    for row in [*(table.collect() if table is not None else []), *output.collect()]:
        rows[tuple(row[key] for key in keys)] = row
    return output.sparkSession.createDataFrame(list(rows.values()), output.schema)


# --- fct_order and fct_order_item ---------------------------------------------------------

POS_FILE_LINES = {"P1": 1, "R1": 2, "P2": 3, "P3": 4}
ECOM_FILE_LINES = {"E1": 1, "E2": 2, "E3": 10}


def pos_orders(spark: SparkSession) -> DataFrame:
    return ods(spark, "pos_orders", [
        # Sale with an order-level discount: 89.97 over list amounts 50/10/40 leaves 2 cents.
        {"order_id": "P1", "store_id": "S1", "mobile": "13800138000", "order_time": ts("2026-01-05 10:00:00"),
         "order_type": "sale", "total_amount": D("100.00"), "discount_amount": D("10.03"),
         "pay_amount": D("89.97"), "pay_method": " wechat "},
        # Return of an earlier ticket: stored negative.
        {"order_id": "R1", "store_id": "S1", "order_time": ts("2026-01-05 11:00:00"), "order_type": "return",
         "orig_order_id": " P0 ", "total_amount": D("50.00"), "discount_amount": D("5.00"),
         "pay_amount": D("45.00"), "pay_method": "cash"},
        # A member's card typed lower-case with spaces; a store without a dim_store row.
        {"order_id": "P2", "store_id": "S2", "card_no": " vip001 ", "order_time": ts("2026-01-05 12:00:00"),
         "order_type": "sale", "total_amount": D("30.00"), "pay_amount": D("30.00")},
        # Only one of its lines arrived: the lines do not sum to the total.
        {"order_id": "P3", "store_id": "S1", "order_time": ts("2026-01-05 13:00:00"), "order_type": "sale",
         "total_amount": D("80.00"), "discount_amount": D("0.00"), "pay_amount": D("80.00"), "pay_method": "card"},
    ])


def pos_items(spark: SparkSession) -> DataFrame:
    def line(order_id, line_no, sku_id, qty, unit_price, amount):
        return {"order_id": order_id, "line_no": line_no, "sku_id": sku_id, "qty": qty,
                "unit_price": D(unit_price), "amount": D(amount)}

    return ods(spark, "pos_order_items", [
        line("P1", 1, "A", 1, "50.00", "50.00"),
        line("P1", 2, "B", 2, "5.00", "10.00"),
        line("P1", 3, "C", 4, "10.00", "40.00"),
        line("R1", 1, "A", 1, "30.00", "30.00"),
        line("R1", 2, "B", 2, "10.00", "20.00"),
        line("P2", 1, "D", 1, "30.00", "30.00"),
        line("P3", 1, "A", 1, "50.00", "50.00"),
        # Its ticket is not in the extract.
        line("P404", 1, "A", 1, "9.00", "9.00"),
    ])


def item(sku_id: str, qty: int, unit_price: str, amount: str) -> dict:
    return {"sku_id": sku_id, "qty": qty, "unit_price": D(unit_price), "amount": D(amount)}


def ecom_orders(spark: SparkSession) -> DataFrame:
    e3 = {"platform": "own_mall", "order_id": "E3", "buyer_id": "ob1", "receiver_province": "上海市",
          "receiver_city": "上海市", "created_at": ts("2026-01-05 08:00:00")}
    return ods(spark, "ecom_orders", [
        # Closed without ever being paid.
        {"platform": "tmall", "order_id": "E1", "buyer_id": "tb1", "receiver_province": "浙江省",
         "receiver_city": "杭州市", "created_at": ts("2026-01-04 20:00:00"), "status": "closed",
         "total_amount": D("30.00"), "pay_amount": D("30.00"), "items": [item("A", 1, "30.00", "30.00")],
         "source_line": ECOM_FILE_LINES["E1"]},
        # Paid, then refunded in full; the city is unknown.
        {"platform": "jd", "order_id": "E2", "buyer_id": "jb1", "member_id": " M2 ", "receiver_province": "广东省",
         "created_at": ts("2026-01-03 09:00:00"), "paid_at": ts("2026-01-03 09:05:00"), "status": "refunded",
         "total_amount": D("60.00"), "discount_amount": D("10.00"), "pay_amount": D("50.00"), "coupon_ids": ["CP1"],
         "items": [item("B", 2, "30.00", "60.00")], "source_line": ECOM_FILE_LINES["E2"]},
        # Three versions: an older dt (however high its line), then line 9 and line 10 of the day's
        # file, where line 10 is newest although "10" < "9" as text.
        {**e3, "status": "created", "total_amount": D("100.00"), "pay_amount": D("100.00"),
         "items": [item("X", 1, "100.00", "100.00")], "dt": date(2026, 1, 4), "source_line": 99},
        {**e3, "paid_at": ts("2026-01-05 08:10:00"), "status": "paid", "total_amount": D("100.00"),
         "pay_amount": D("100.00"), "items": [item("X", 1, "100.00", "100.00")], "source_line": 9},
        {**e3, "paid_at": ts("2026-01-05 08:10:00"), "shipped_at": ts("2026-01-05 18:00:00"), "status": "shipped",
         "total_amount": D("150.00"), "discount_amount": D("15.00"), "pay_amount": D("135.00"),
         "coupon_ids": ["CP2", "CP3"], "items": [item("X", 1, "100.00", "100.00"), item("Y", 2, "25.00", "50.00")],
         "source_line": ECOM_FILE_LINES["E3"]},
    ])


@pytest.fixture(scope="module")
def order_facts(spark):
    """(items, orphans, orders) of the day's POS and e-commerce extracts."""
    ods_pos, ods_ecom = pos_orders(spark), ecom_orders(spark)
    headers = fct_order.headers(ods_pos, ods_ecom)
    lines = fct_order_item.raw_lines(pos_items(spark), ods_ecom)
    items, orphans = fct_order_item.build(lines, headers)
    items = materialized(items)
    card_members = spark.createDataFrame(
        [("VIP001", "M9", ts("2025-01-01 00:00:00")), ("VIP001", "M1", ts("2025-06-01 00:00:00")),
         (None, "M3", ts("2025-01-01 00:00:00"))],
        "card_no string, member_id string, effective_from timestamp_ntz",
    )
    store_regions = spark.createDataFrame([("S1", "江苏省/苏州市")], "store_id string, region_id string")
    orders = fct_order.build(headers, items, card_members, store_regions)
    return items, materialized(orphans), materialized(orders)


# Order-level columns every line of an order repeats.
ORDER_OF_LINE = {
    "P1": ("pos", None, "store:S1", "S1", "sale", ts("2026-01-05 10:00:00")),
    "R1": ("pos", None, "store:S1", "S1", "return", ts("2026-01-05 11:00:00")),
    "P2": ("pos", None, "store:S2", "S2", "sale", ts("2026-01-05 12:00:00")),
    "P3": ("pos", None, "store:S1", "S1", "sale", ts("2026-01-05 13:00:00")),
    "E1": ("ecom", "tmall", "ecom:tmall", None, "sale", ts("2026-01-04 20:00:00")),
    "E2": ("ecom", "jd", "ecom:jd", None, "sale", ts("2026-01-03 09:00:00")),
    "E3": ("ecom", "own_mall", "ecom:own_mall", None, "sale", ts("2026-01-05 08:00:00")),
}
ITEM_DDL = (
    "order_key string, line_no int, order_source string, order_id string, platform string, channel_id string, "
    "store_id string, order_type string, order_at timestamp_ntz, order_date date, sku_id string, quantity int, "
    "unit_price decimal(18,2), line_amount decimal(18,2), allocated_discount decimal(18,2), "
    "paid_amount decimal(18,2), source_version string, source_dt date"
)


def expected_line(order_id, line_no, sku_id, quantity, unit_price, line_amount, discount, paid) -> dict:
    source, platform, channel_id, store_id, order_type, order_at = ORDER_OF_LINE[order_id]
    key = f"pos:{order_id}" if source == "pos" else f"ecom:{platform}:{order_id}"
    line_version = (version("pos_orders", DS, POS_FILE_LINES[order_id]) if source == "pos"
                    else version("ecom_orders", DS, ECOM_FILE_LINES[order_id]))
    return {
        "order_key": key, "line_no": line_no, "order_source": source, "order_id": order_id, "platform": platform,
        "channel_id": channel_id, "store_id": store_id, "order_type": order_type, "order_at": order_at,
        "order_date": order_at.date(), "sku_id": sku_id, "quantity": quantity, "unit_price": D(unit_price),
        "line_amount": D(line_amount), "allocated_discount": D(discount), "paid_amount": D(paid),
        "source_version": line_version, "source_dt": DS,
    }


def test_order_lines_sum_to_the_paid_amount_to_the_cent_and_returns_are_negative(spark, order_facts):
    items, _, _ = order_facts
    expected = frame(spark, ITEM_DDL, [
        # 8997 cents in proportion 5:1:4 is 4498.5, 899.7 and 3598.8: the two leftover cents go to
        # the largest remainders (lines 3 and 2), not to the first lines; rounding each line
        # would give 89.98 in all.
        expected_line("P1", 1, "A", 1, "50.00", "50.00", "5.02", "44.98"),
        expected_line("P1", 2, "B", 2, "5.00", "10.00", "1.00", "9.00"),
        expected_line("P1", 3, "C", 4, "10.00", "40.00", "4.01", "35.99"),
        expected_line("R1", 1, "A", -1, "30.00", "-30.00", "-3.00", "-27.00"),
        expected_line("R1", 2, "B", -2, "10.00", "-20.00", "-2.00", "-18.00"),
        expected_line("P2", 1, "D", 1, "30.00", "30.00", "0.00", "30.00"),
        # The one line that arrived carries the whole payment.
        expected_line("P3", 1, "A", 1, "50.00", "50.00", "-30.00", "80.00"),
        expected_line("E1", 1, "A", 1, "30.00", "30.00", "0.00", "30.00"),
        expected_line("E2", 1, "B", 2, "30.00", "60.00", "10.00", "50.00"),
        # Items of the newest version only, numbered from 1.
        expected_line("E3", 1, "X", 1, "100.00", "100.00", "10.00", "90.00"),
        expected_line("E3", 2, "Y", 2, "25.00", "50.00", "5.00", "45.00"),
    ])
    assertDataFrameEqual(items, expected, checkRowOrder=False)


def test_a_line_of_an_unknown_ticket_is_an_orphan_not_allocated(spark, order_facts):
    _, orphans, _ = order_facts
    assertDataFrameEqual(
        orphans, spark.createDataFrame([("pos:P404", 1, "unknown_order")], "order_key string, line_no int, reason string"),
        checkRowOrder=False,
    )


ORDER_DDL = (
    "order_key string, order_source string, order_id string, platform string, channel_id string, store_id string, "
    "region_id string, order_type string, orig_order_key string, order_status string, order_at timestamp_ntz, "
    "order_date date, member_id string, buyer_key string, record_key string, is_member_order boolean, "
    "is_paid boolean, is_purchase boolean, total_amount decimal(18,2), discount_amount decimal(18,2), "
    "paid_amount decimal(18,2), refund_amount decimal(18,2), net_paid_amount decimal(18,2), line_count bigint, "
    "item_count bigint, lines_paid_amount decimal(28,2), lines_complete boolean, coupon_count int, "
    "ship_province string, ship_city string, pay_method string, source_version string, source_dt date"
)


def pos_order(order_id: str, **values) -> dict:
    """A POS ticket of store S1 by an anonymous buyer, with ``values`` replacing the defaults."""
    at = values.get("order_at", ts("2026-01-05 10:00:00"))
    row = {
        "order_key": f"pos:{order_id}", "order_source": "pos", "order_id": order_id, "platform": None,
        "channel_id": "store:S1", "store_id": "S1", "region_id": "江苏省/苏州市", "order_type": "sale",
        "orig_order_key": None, "order_status": "completed", "order_at": at, "order_date": at.date(),
        "member_id": None, "buyer_key": f"order:pos:{order_id}", "record_key": f"pos.orders:{order_id}",
        "is_member_order": False, "is_paid": True, "is_purchase": True, "refund_amount": D("0.00"),
        "coupon_count": 0, "ship_province": None, "ship_city": None, "pay_method": None,
        "source_version": version("pos_orders", DS, POS_FILE_LINES[order_id]), "source_dt": DS,
    }
    return _with(row, values)


def ecom_order(platform: str, order_id: str, **values) -> dict:
    """An e-commerce order, with ``values`` replacing the defaults."""
    at = values["order_at"]
    row = {
        "order_key": f"ecom:{platform}:{order_id}", "order_source": "ecom", "order_id": order_id,
        "platform": platform, "channel_id": f"ecom:{platform}", "store_id": None, "order_type": "sale",
        "orig_order_key": None, "order_date": at.date(), "member_id": None,
        "record_key": f"ecom.orders:{platform}:{order_id}", "is_member_order": False, "pay_method": None,
        "source_version": version("ecom_orders", DS, ECOM_FILE_LINES[order_id]), "source_dt": DS,
    }
    return _with(row, values)


def _with(row: dict, values: dict) -> dict:
    """``row`` updated with ``values``; amounts may be given as text."""
    return {**row, **{name: D(value) if isinstance(value, str) and name.endswith("amount") else value
                      for name, value in values.items()}}


def test_orders_sign_returns_match_cards_and_keep_what_the_retailer_kept(spark, order_facts):
    _, _, orders = order_facts
    expected = frame(spark, ORDER_DDL, [
        pos_order("P1", total_amount="100.00", discount_amount="10.03", paid_amount="89.97",
                  net_paid_amount="89.97", line_count=3, item_count=7, lines_paid_amount="89.97",
                  lines_complete=True, pay_method="wechat"),
        pos_order("R1", order_type="return", orig_order_key="pos:P0", order_at=ts("2026-01-05 11:00:00"),
                  is_purchase=False, total_amount="-50.00", discount_amount="-5.00", paid_amount="-45.00",
                  net_paid_amount="-45.00", line_count=2, item_count=-3, lines_paid_amount="-45.00",
                  lines_complete=True, pay_method="cash"),
        # " vip001 " is card VIP001, held last by M1; S2 has no region.
        pos_order("P2", channel_id="store:S2", store_id="S2", region_id="unknown", order_at=ts("2026-01-05 12:00:00"),
                  member_id="M1", buyer_key="member:M1", is_member_order=True, total_amount="30.00",
                  discount_amount="0.00", paid_amount="30.00", net_paid_amount="30.00", line_count=1,
                  item_count=1, lines_paid_amount="30.00", lines_complete=True),
        pos_order("P3", order_at=ts("2026-01-05 13:00:00"), total_amount="80.00", discount_amount="0.00",
                  paid_amount="80.00", net_paid_amount="80.00", line_count=1, item_count=1,
                  lines_paid_amount="80.00", lines_complete=False, pay_method="card"),
        # Never paid: the retailer kept nothing and it is no purchase.
        ecom_order("tmall", "E1", region_id="浙江省/杭州市", order_status="closed", order_at=ts("2026-01-04 20:00:00"),
                   buyer_key="buyer:tmall:tb1", is_paid=False, is_purchase=False, total_amount="30.00",
                   discount_amount="0.00", paid_amount="30.00", refund_amount="0.00", net_paid_amount="0.00",
                   line_count=1, item_count=1, lines_paid_amount="30.00", lines_complete=True, coupon_count=0,
                   ship_province="浙江省", ship_city="杭州市"),
        # Paid then refunded: still a purchase, nothing kept.
        ecom_order("jd", "E2", region_id="unknown", order_status="refunded", order_at=ts("2026-01-03 09:00:00"),
                   member_id="M2", buyer_key="member:M2", is_member_order=True, is_paid=True, is_purchase=True,
                   total_amount="60.00", discount_amount="10.00", paid_amount="50.00", refund_amount="50.00",
                   net_paid_amount="0.00", line_count=1, item_count=2, lines_paid_amount="50.00",
                   lines_complete=True, coupon_count=1, ship_province="广东省", ship_city=None),
        ecom_order("own_mall", "E3", region_id="上海市/上海市", order_status="shipped",
                   order_at=ts("2026-01-05 08:00:00"), buyer_key="buyer:own_mall:ob1", is_paid=True,
                   is_purchase=True, total_amount="150.00", discount_amount="15.00", paid_amount="135.00",
                   refund_amount="0.00", net_paid_amount="135.00", line_count=2, item_count=3,
                   lines_paid_amount="135.00", lines_complete=True, coupon_count=2, ship_province="上海市",
                   ship_city="上海市"),
    ])
    assertDataFrameEqual(orders, expected, checkRowOrder=False)


# --- fct_ecom_order_lifecycle --------------------------------------------------------------


def snapshot(platform: str, order_id: str, dt: date, status: str, **milestones: datetime) -> dict:
    """One extract of an e-commerce order as the platform showed it on ``dt``."""
    return {"platform": platform, "order_id": order_id, "status": status, "total_amount": D("10.00"),
            "pay_amount": D("10.00"), "dt": dt, **milestones}


L1 = {"created_at": ts("2026-01-01 10:00:00"), "paid_at": ts("2026-01-01 10:12:45"),
      "shipped_at": ts("2026-01-02 09:33:45"), "received_at": ts("2026-01-04 12:00:00")}
L2 = {"created_at": ts("2026-01-01 11:00:00")}
L3 = {"created_at": ts("2026-01-01 12:00:00"), "paid_at": ts("2026-01-01 12:30:00"),
      "shipped_at": ts("2026-01-02 08:00:00")}


UNSET = {"paid_at": None, "shipped_at": None, "received_at": None, "closed_date": None, "refunded_date": None,
         "minutes_to_pay": None, "hours_to_ship": None, "hours_to_receive": None, "days_to_refund": None,
         "anomaly_flags": []}


def first(milestones: dict, count: int) -> dict:
    return dict(list(milestones.items())[:count])


# The daily extracts: L1 goes created → paid → shipped → received, L2 is closed on 01-02 and
# still shows closed on 01-03, L3 is paid, shipped and refunded on 01-04.
EXTRACTS = {
    "created": [snapshot("tmall", "L1", date(2026, 1, 1), "created", **first(L1, 1)),
                snapshot("tmall", "L2", date(2026, 1, 1), "created", **L2),
                snapshot("jd", "L3", date(2026, 1, 1), "paid", **first(L3, 2))],
    "paid": [snapshot("tmall", "L1", date(2026, 1, 2), "paid", **first(L1, 2)),
             snapshot("tmall", "L2", date(2026, 1, 2), "closed", **L2),
             snapshot("jd", "L3", date(2026, 1, 2), "shipped", **L3)],
    "shipped": [snapshot("tmall", "L1", date(2026, 1, 3), "shipped", **first(L1, 3)),
                snapshot("tmall", "L2", date(2026, 1, 3), "closed", **L2)],
    "received": [snapshot("tmall", "L1", date(2026, 1, 4), "received", **L1),
                 snapshot("jd", "L3", date(2026, 1, 4), "refunded", **L3)],
}
LIFECYCLE_DDL = (
    "order_key string, platform string, order_id string, channel_id string, created_at timestamp_ntz, "
    "paid_at timestamp_ntz, shipped_at timestamp_ntz, received_at timestamp_ntz, closed_date date, "
    "refunded_date date, order_status string, status_rank int, minutes_to_pay double, hours_to_ship double, "
    "hours_to_receive double, days_to_refund int, first_extract_dt date, last_extract_dt date, "
    "anomaly_flags array<string>"
)


@pytest.mark.parametrize(
    "arrivals",
    [
        ["created", "paid", "shipped", "received"],
        # Received first, then created; shipped before paid, and paid arrives twice.
        ["received", "created", "shipped", "paid", "paid"],
    ],
    ids=["in_order", "out_of_order_and_twice"],
)
def test_lifecycle_is_the_same_whatever_order_extracts_arrive_in(spark, arrivals):
    table = None
    for name in arrivals:
        output = fct_ecom_order_lifecycle.build(ods(spark, "ecom_orders", EXTRACTS[name]), table)
        table = merged(table, output, ["order_key"])
    expected = frame(spark, LIFECYCLE_DDL, [
        # 12 min 45 s to pay; 23 h 21 min to ship; 50 h 26 min 15 s (50.4375 h) to receive.
        {"order_key": "ecom:tmall:L1", "platform": "tmall", "order_id": "L1", "channel_id": "ecom:tmall", **UNSET,
         **L1, "order_status": "received", "status_rank": 4, "minutes_to_pay": 12.75, "hours_to_ship": 23.35,
         "hours_to_receive": 50.44, "first_extract_dt": date(2026, 1, 1), "last_extract_dt": date(2026, 1, 4)},
        # Closed on the date of the first extract that showed it closed.
        {"order_key": "ecom:tmall:L2", "platform": "tmall", "order_id": "L2", "channel_id": "ecom:tmall", **UNSET,
         **L2, "closed_date": date(2026, 1, 2), "order_status": "closed", "status_rank": 5,
         "first_extract_dt": date(2026, 1, 1), "last_extract_dt": date(2026, 1, 3)},
        {"order_key": "ecom:jd:L3", "platform": "jd", "order_id": "L3", "channel_id": "ecom:jd", **UNSET, **L3,
         "refunded_date": date(2026, 1, 4), "order_status": "refunded", "status_rank": 6, "minutes_to_pay": 30.0,
         "hours_to_ship": 19.5, "days_to_refund": 3, "first_extract_dt": date(2026, 1, 1),
         "last_extract_dt": date(2026, 1, 4)},
    ])
    assertDataFrameEqual(table, expected, checkRowOrder=False)


CLOCK_SKEW_RULES = parse_rules([
    {"name": "paid_before_created", "when": "paid_at < created_at", "action": "flag", "nulls": ["minutes_to_pay"]},
], "ecom/orders")


def test_a_flagged_extract_keeps_its_order_and_nulls_only_the_lag_it_distrusts_for_good(spark):
    skewed = {"created_at": ts("2026-01-01 10:00:00"), "paid_at": ts("2026-01-01 09:55:00"),
              "shipped_at": ts("2026-01-01 12:00:00")}
    flagged = ods(spark, "ecom_orders", [snapshot("tmall", "S1", date(2026, 1, 1), "shipped", **skewed)]).withColumn(
        "anomaly_flags", F.array(F.lit("paid_before_created")))
    # The next extract comes from an older ODS partition shape (no flags column) and is clean.
    clean = ods(spark, "ecom_orders", [snapshot("tmall", "S1", date(2026, 1, 2), "received", **skewed,
                                                received_at=ts("2026-01-03 12:00:00"))], dt=date(2026, 1, 2))
    table = None
    for extract in (flagged, clean):
        table = merged(table, fct_ecom_order_lifecycle.build(extract, table, CLOCK_SKEW_RULES), ["order_key"])

    expected = frame(spark, LIFECYCLE_DDL, [
        {"order_key": "ecom:tmall:S1", "platform": "tmall", "order_id": "S1", "channel_id": "ecom:tmall", **UNSET,
         **skewed, "received_at": ts("2026-01-03 12:00:00"), "order_status": "received", "status_rank": 4,
         "hours_to_ship": 2.08, "hours_to_receive": 48.0, "first_extract_dt": date(2026, 1, 1),
         "last_extract_dt": date(2026, 1, 2), "anomaly_flags": ["paid_before_created"]},
    ])
    assertDataFrameEqual(table, expected)


# --- fct_trade_daily -------------------------------------------------------------------------

TRADE_INPUT_DDL = (
    "order_key string, order_source string, channel_id string, store_id string, platform string, "
    "order_type string, order_date date, buyer_key string, is_member_order boolean, is_purchase boolean, "
    "paid_amount decimal(18,2), refund_amount decimal(18,2), net_paid_amount decimal(18,2), item_count bigint"
)
TRADE_DDL = (
    "trade_date date, channel_id string, order_source string, store_id string, platform string, orders bigint, "
    "buyers bigint, member_buyers bigint, sales_amount decimal(28,2), return_orders bigint, "
    "return_amount decimal(28,2), net_amount decimal(28,2), items_sold bigint, items_returned bigint"
)


def test_trade_daily_counts_buyers_sales_and_returns_per_date_and_channel(spark):
    def store(key, order_type, day, buyer, member, purchase, paid, items):
        return (key, "pos", "store:S1", "S1", None, order_type, day, buyer, member, purchase, D(paid), D("0.00"),
                D(paid), items)

    def tmall(key, day, buyer, member, purchase, paid, refund, net, items):
        return (key, "ecom", "ecom:tmall", None, "tmall", "sale", day, buyer, member, purchase, D(paid), D(refund),
                D(net), items)

    d5, d6 = date(2026, 1, 5), date(2026, 1, 6)
    orders = spark.createDataFrame([
        store("pos:P1", "sale", d5, "member:M1", True, True, "100.00", 3),
        store("pos:P2", "sale", d5, "member:M1", True, True, "50.00", 1),
        store("pos:P3", "sale", d5, "order:pos:P3", False, True, "20.00", 1),
        store("pos:R1", "return", d5, "order:pos:R1", False, False, "-30.00", -1),
        # A return counts on its own date.
        store("pos:R2", "return", d6, "member:M1", True, False, "-15.00", -2),
        # Refunded: a purchase and a return on the order date.
        tmall("ecom:tmall:E1", d5, "member:M2", True, True, "80.00", "80.00", "0.00", 2),
        # Closed unpaid: neither.
        tmall("ecom:tmall:E2", d5, "buyer:tmall:b2", False, False, "30.00", "0.00", "0.00", 1),
        tmall("ecom:tmall:E3", d5, "buyer:tmall:b3", False, True, "40.00", "0.00", "40.00", 1),
    ], TRADE_INPUT_DDL)
    expected = spark.createDataFrame([
        (d5, "store:S1", "pos", "S1", None, 3, 2, 1, D("170.00"), 1, D("30.00"), D("140.00"), 5, 1),
        (d6, "store:S1", "pos", "S1", None, 0, 0, 0, D("0.00"), 1, D("15.00"), D("-15.00"), 0, 2),
        (d5, "ecom:tmall", "ecom", None, "tmall", 2, 2, 1, D("120.00"), 1, D("80.00"), D("40.00"), 3, 0),
    ], TRADE_DDL)
    assertDataFrameEqual(fct_trade_daily.build(orders), expected, checkRowOrder=False)


# --- agg_member_trade ------------------------------------------------------------------------

AS_OF = date(2026, 3, 31)


def test_member_trade_windows_hold_the_last_n_days_up_to_as_of(spark):
    def order(key, member, order_type, day, purchase, net):
        return (key, member, order_type, day, purchase, D(net))

    orders = spark.createDataFrame([
        # 90 days before as_of: lifetime only.
        order("A1", "M1", "sale", date(2025, 12, 31), True, "10.00"),
        # 89 days: inside 90.
        order("A2", "M1", "sale", date(2026, 1, 1), True, "20.00"),
        # 30 days: outside 30, inside 90.
        order("A3", "M1", "sale", date(2026, 3, 1), True, "40.00"),
        # 29 days: inside 30.
        order("A4", "M1", "sale", date(2026, 3, 2), True, "80.00"),
        # Refunded: a purchase that kept nothing.
        order("A5", "M1", "sale", date(2026, 3, 10), True, "0.00"),
        order("A6", "M1", "return", date(2026, 3, 20), False, "-5.00"),
        # After as_of.
        order("A7", "M1", "sale", date(2026, 4, 1), True, "1000.00"),
        # M2's only order was never paid.
        order("A8", "M2", "sale", date(2026, 3, 25), False, "0.00"),
        order("A9", None, "sale", date(2026, 3, 30), True, "7.00"),
    ], "order_key string, member_id string, order_type string, order_date date, is_purchase boolean, "
       "net_paid_amount decimal(18,2)")
    expected = spark.createDataFrame([
        (AS_OF, "M1", date(2025, 12, 31), date(2026, 3, 10), 5, D("145.00"), 2, D("75.00"), 4, D("135.00")),
        (AS_OF, "M2", None, None, 0, D("0.00"), 0, D("0.00"), 0, D("0.00")),
    ], "dt date, member_id string, first_order_date date, last_order_date date, orders_lifetime bigint, "
       "net_paid_lifetime decimal(28,2), orders_30d bigint, net_paid_30d decimal(28,2), orders_90d bigint, "
       "net_paid_90d decimal(28,2)")
    assertDataFrameEqual(agg_member_trade.build(orders, AS_OF, [30, 90]), expected, checkRowOrder=False)


# --- fct_points ------------------------------------------------------------------------------

POINTS_DDL = (
    "ledger_id string, member_id string, txn_at timestamp_ntz, txn_date date, points_type string, "
    "points_change int, reason string, order_id string, expire_at timestamp_ntz, balance_after bigint, "
    "grade_points_after bigint, source_version string, source_dt date"
)


def ledger_entry(ledger_id, member_id, txn_time, points_type, change, reason, order_id=None):
    return {"ledger_id": ledger_id, "member_id": member_id, "txn_time": ts(txn_time), "points_type": points_type,
            "change": change, "reason": reason, "order_id": order_id}


def points_row(ledger_id, member_id, txn_at, points_type, change, reason, order_id, balance, grade_points, dt, line):
    """A ``cdm.fct_points`` row of an entry in line ``line`` of ``dt``'s landing file."""
    return {"ledger_id": ledger_id, "member_id": member_id, "txn_at": ts(txn_at), "txn_date": ts(txn_at).date(),
            "points_type": points_type, "points_change": change, "reason": reason, "order_id": order_id,
            "expire_at": None, "balance_after": balance, "grade_points_after": grade_points,
            "source_version": version("crm_points_ledger", dt, line), "source_dt": dt}


def test_a_late_ledger_entry_recomputes_later_balances_and_the_newest_version_wins(spark):
    day_1, day_2 = date(2026, 1, 5), date(2026, 1, 6)
    first_day = ods(spark, "crm_points_ledger", [
        ledger_entry("L1", " M1 ", "2026-01-05 10:00:00", "base", 100, "order", " P1 "),
        ledger_entry("L2", "M1", "2026-01-05 12:00:00", "base", -30, "redeem"),
        ledger_entry("L3", "M2", "2026-01-05 09:00:00", "bonus", 50, "adjust"),
        # Grade points of the same order: they move the level, not what M1 can spend.
        ledger_entry("L5", "M1", "2026-01-05 10:00:02", "grade", 100, "order", "P1"),
    ], dt=day_1)
    second_day = ods(spark, "crm_points_ledger", [
        # Earlier than L2, arriving a day later.
        ledger_entry("L4", "M1", "2026-01-05 11:00:00", "bonus", 20, "adjust"),
        # L2 corrected twice in the day's extract: the later line wins.
        ledger_entry("L2", "M1", "2026-01-05 12:00:00", "base", -35, "redeem"),
        ledger_entry("L2", "M1", "2026-01-05 12:00:00", "base", -40, "redeem"),
        ledger_entry("L6", "M1", "2026-01-05 13:00:00", "grade", -20, "order"),  # a return takes grade points back
    ], dt=day_2)
    table = merged(None, fct_points.build(first_day, None), ["ledger_id"])
    output = fct_points.build(second_day, table)

    m1 = [
        points_row("L1", "M1", "2026-01-05 10:00:00", "base", 100, "order", "P1", 100, 0, day_1, 1),
        points_row("L5", "M1", "2026-01-05 10:00:02", "grade", 100, "order", "P1", 100, 100, day_1, 4),
        points_row("L4", "M1", "2026-01-05 11:00:00", "bonus", 20, "adjust", None, 120, 100, day_2, 1),
        points_row("L2", "M1", "2026-01-05 12:00:00", "base", -40, "redeem", None, 80, 100, day_2, 3),
        points_row("L6", "M1", "2026-01-05 13:00:00", "grade", -20, "order", None, 80, 80, day_2, 4),
    ]
    m2 = [points_row("L3", "M2", "2026-01-05 09:00:00", "bonus", 50, "adjust", None, 50, 0, day_1, 3)]
    # Only the touched member's ledger is rewritten.
    assertDataFrameEqual(output, frame(spark, POINTS_DDL, m1), checkRowOrder=False)
    assertDataFrameEqual(merged(table, output, ["ledger_id"]), frame(spark, POINTS_DDL, m1 + m2), checkRowOrder=False)


def test_spendable_and_grade_balances_match_running_sums_of_a_random_ledger(spark):
    rng = Random(20260105)
    entries = [
        ledger_entry(f"L{n:03d}", f"M{rng.randrange(4)}", f"2026-01-05 1{rng.randrange(2)}:0{rng.randrange(3)}:00",
                     rng.choice(("base", "bonus", "grade")), rng.randint(-50, 100), "order")
        for n in range(60)
    ]
    # The oracle: per member in (txn_at, ledger_id) order, one running sum per kind of points.
    expected, totals = [], {}
    for entry in sorted(entries, key=lambda e: (e["txn_time"], e["ledger_id"])):
        spendable, grade = totals.get(entry["member_id"], (0, 0))
        if entry["points_type"] == "grade":
            grade += entry["change"]
        else:
            spendable += entry["change"]
        totals[entry["member_id"]] = (spendable, grade)
        expected.append((entry["ledger_id"], spendable, grade))
    assert len({entry["txn_time"] for entry in entries}) < len(entries)  # ties are broken by ledger_id

    built = fct_points.build(ods(spark, "crm_points_ledger", entries), None)
    assert sorted(built.select("ledger_id", "balance_after", "grade_points_after").collect()) == sorted(expected)


def test_a_ledger_written_before_grade_points_were_kept_apart_is_derived_again_for_every_member(spark):
    day_1, day_2 = date(2026, 1, 5), date(2026, 1, 6)
    # As an earlier release wrote it: no grade_points_after, balance_after over every type.
    older_release = frame(spark, POINTS_DDL, [
        points_row("L1", "M1", "2026-01-05 10:00:00", "base", 100, "order", None, 100, None, day_1, 1),
        points_row("L2", "M2", "2026-01-05 10:00:00", "grade", 80, "order", None, 80, None, day_1, 2),
    ]).drop("grade_points_after")
    today = ods(spark, "crm_points_ledger", [ledger_entry("L3", "M1", "2026-01-06 09:00:00", "grade", 100, "order")],
                dt=day_2)

    # M2 has no entry today, yet its balance is put right too.
    assertDataFrameEqual(fct_points.build(today, older_release), frame(spark, POINTS_DDL, [
        points_row("L1", "M1", "2026-01-05 10:00:00", "base", 100, "order", None, 100, 0, day_1, 1),
        points_row("L3", "M1", "2026-01-06 09:00:00", "grade", 100, "order", None, 100, 100, day_2, 1),
        points_row("L2", "M2", "2026-01-05 10:00:00", "grade", 80, "order", None, 0, 80, day_1, 2),
    ]), checkRowOrder=False)


# --- fct_coupon ------------------------------------------------------------------------------

COUPON_DDL = (
    "coupon_id string, template_id string, member_id string, issued_at timestamp_ntz, issue_date date, "
    "issue_channel_id string, face_value decimal(18,2), threshold decimal(18,2), coupon_status string, "
    "used_at timestamp_ntz, used_order_id string, used_order_key string, expire_at timestamp_ntz, "
    "days_to_use int, source_version string, source_dt date"
)
CHANNEL_LABELS = {"门店": "store", "官方商城": "ecom:own_mall"}
EXPIRE_AT = ts("2026-02-01 00:00:00")


def test_used_coupons_are_matched_to_store_and_own_mall_orders_now_or_on_a_later_run(spark):
    def coupon(coupon_id, issued_at, channel, status, used_at=None, used_order_id=None):
        return {"coupon_id": coupon_id, "template_id": "T10", "member_id": "M1", "issued_at": ts(issued_at),
                "channel": channel, "face_value": D("20.00"), "threshold": D("100.00"),
                "used_at": used_at and ts(used_at), "used_order_id": used_order_id, "expire_at": EXPIRE_AT,
                "status": status}

    def orders(*keys):
        rows = [(key, key.rsplit(":", 1)[1], key.split(":")[0], key.split(":")[1] if key.count(":") == 2 else None)
                for key in keys]
        return spark.createDataFrame(rows, "order_key string, order_id string, order_source string, platform string")

    day_1, day_2 = date(2026, 1, 5), date(2026, 1, 6)
    first_day = ods(spark, "crm_coupons", [
        coupon("C1", "2026-01-01 09:00:00", "门店", "used", "2026-01-05 10:00:00", " P1 "),
        # W1 is both an own-mall and a Tmall order id; CRM coupons are never used on Tmall.
        coupon("C2", "2026-01-02 09:00:00", "官方商城", "used", "2026-01-05 08:30:00", "W1"),
        coupon("C3", "2026-01-03 09:00:00", "未知渠道", "used", "2026-01-05 11:00:00", "T1"),
        # Its order has not arrived yet.
        coupon("C4", "2026-01-04 09:00:00", None, "used", "2026-01-05 12:00:00", "P9"),
        coupon("C5", "2026-01-01 09:00:00", "门店", "issued"),
    ], dt=day_1)
    known = ["pos:P1", "ecom:own_mall:W1", "ecom:tmall:W1", "ecom:tmall:T1"]
    first_output = fct_coupon.build(first_day, None, orders(*known), CHANNEL_LABELS)
    second_day = ods(spark, "crm_coupons", [
        coupon("C5", "2026-01-01 09:00:00", "门店", "used", "2026-01-06 12:00:00", "W1"),
        coupon("C6", "2026-01-06 10:00:00", "门店", "issued"),
    ], dt=day_2)
    second_output = fct_coupon.build(
        second_day, merged(None, first_output, ["coupon_id"]), orders(*known, "pos:P9"), CHANNEL_LABELS
    )

    def row(coupon_id, issued_at, channel_id, status, used_at, used_order_id, used_order_key, days, dt, line):
        issued = ts(issued_at)
        return {"coupon_id": coupon_id, "template_id": "T10", "member_id": "M1", "issued_at": issued,
                "issue_date": issued.date(), "issue_channel_id": channel_id, "face_value": D("20.00"),
                "threshold": D("100.00"), "coupon_status": status, "used_at": used_at and ts(used_at),
                "used_order_id": used_order_id, "used_order_key": used_order_key, "expire_at": EXPIRE_AT,
                "days_to_use": days, "source_version": version("crm_coupons", dt, line), "source_dt": dt}

    c3 = row("C3", "2026-01-03 09:00:00", "unknown", "used", "2026-01-05 11:00:00", "T1", None, 2, day_1, 3)
    c4 = row("C4", "2026-01-04 09:00:00", None, "used", "2026-01-05 12:00:00", "P9", None, 1, day_1, 4)
    assertDataFrameEqual(first_output, frame(spark, COUPON_DDL, [
        row("C1", "2026-01-01 09:00:00", "store", "used", "2026-01-05 10:00:00", "P1", "pos:P1", 4, day_1, 1),
        row("C2", "2026-01-02 09:00:00", "ecom:own_mall", "used", "2026-01-05 08:30:00", "W1", "ecom:own_mall:W1", 3,
            day_1, 2),
        c3,
        c4,
        row("C5", "2026-01-01 09:00:00", "store", "issued", None, None, None, None, day_1, 5),
    ]), checkRowOrder=False)
    # Still-unmatched coupons come back each run; C4's order has arrived.
    assertDataFrameEqual(second_output, frame(spark, COUPON_DDL, [
        c3,
        {**c4, "used_order_key": "pos:P9"},
        row("C5", "2026-01-01 09:00:00", "store", "used", "2026-01-06 12:00:00", "W1", "ecom:own_mall:W1", 5,
            day_2, 1),
        row("C6", "2026-01-06 10:00:00", "store", "issued", None, None, None, None, day_2, 2),
    ]), checkRowOrder=False)


# --- fct_event -------------------------------------------------------------------------------

EVENT_DDL = (
    "event_id string, event_at timestamp_ntz, event_date date, app_id string, channel_id string, "
    "event_type string, page string, sku_id string, member_id string, record_key string, has_identity boolean, "
    "search_keyword string, scene string, duration_ms bigint, share_to string, coupon_template_id string, "
    "sign_in_points int, source_version string, source_dt date"
)


def test_events_keep_their_newest_version_with_typed_properties(spark):
    def event(event_id, event_time, event_type, properties, app_id="wxA", openid="o1", **values):
        return {"event_id": event_id, "event_time": ts(event_time), "app_id": app_id, "openid": openid,
                "event": event_type, "properties": properties, **values}

    ods_events = ods(spark, "wechat_events", [
        event("EV1", "2026-01-05 09:00:00", "search", {"keyword": "羽绒服"}, page=" search "),
        event("EV1", "2026-01-05 09:00:00", "search", {"keyword": "羽绒服 男"}, page="search"),
        # Longer than an int holds.
        event("EV2", "2026-01-05 09:05:00", "page_view", {"duration_ms": "3000000000", "scene": "1089"},
              page="pdp", sku_id=" SKU1 "),
        # No usable identity: a blank openid and no member.
        event("EV3", "2026-01-05 09:10:00", "sign_in", {"points": "5"}, app_id="wxB", openid="  "),
        event("EV4", "2026-01-05 09:20:00", "coupon_claim", {"template_id": "TPL1"}, openid=None, member_id=" M1 "),
        event("EV5", "2026-01-05 09:30:00", "share", {"share_to": "timeline"}),
        event("EV6", "2026-01-05 09:40:00", "page_view", None, openid=None, device_id="d9"),
        # Values that are not numbers are no duration or points, and do not fail the build.
        event("EV7", "2026-01-05 09:50:00", "sign_in", {"points": "five", "duration_ms": "1.5s"}),
    ])
    props = {"search_keyword": None, "scene": None, "duration_ms": None, "share_to": None,
             "coupon_template_id": None, "sign_in_points": None}

    def row(event_id, event_at, event_type, line, app_id="wxA", page=None, sku_id=None, member_id=None,
            has_identity=True, **properties):
        return {"event_id": event_id, "event_at": ts(event_at), "event_date": DS, "app_id": app_id,
                "channel_id": f"wechat:{app_id}", "event_type": event_type, "page": page, "sku_id": sku_id,
                "member_id": member_id, "record_key": f"wechat.events:{event_id}", "has_identity": has_identity,
                **props, **properties, "source_version": version("wechat_events", DS, line), "source_dt": DS}

    expected = frame(spark, EVENT_DDL, [
        row("EV1", "2026-01-05 09:00:00", "search", 2, page="search", search_keyword="羽绒服 男"),
        row("EV2", "2026-01-05 09:05:00", "page_view", 3, page="pdp", sku_id="SKU1", scene="1089",
            duration_ms=3_000_000_000),
        row("EV3", "2026-01-05 09:10:00", "sign_in", 4, app_id="wxB", has_identity=False, sign_in_points=5),
        row("EV4", "2026-01-05 09:20:00", "coupon_claim", 5, member_id="M1", coupon_template_id="TPL1"),
        row("EV5", "2026-01-05 09:30:00", "share", 6, share_to="timeline"),
        row("EV6", "2026-01-05 09:40:00", "page_view", 7, has_identity=False),
        row("EV7", "2026-01-05 09:50:00", "sign_in", 8),
    ])
    assertDataFrameEqual(fct_event.build(ods_events), expected, checkRowOrder=False)


# --- identity_evidence -----------------------------------------------------------------------

EVIDENCE_DDL = (
    "dt date, source string, entity string, record_key string, field string, id_type string, raw_value string, "
    "scope string, event_at timestamp_ntz"
)


def test_evidence_of_ecom_orders_keeps_raw_values_with_the_platform_as_scope(spark):
    def order(platform, order_id, created_at, **identifiers):
        return {"platform": platform, "order_id": order_id, "created_at": ts(created_at), "status": "paid",
                "total_amount": D("10.00"), "pay_amount": D("10.00"), **identifiers}

    ods_orders = ods(spark, "ecom_orders", [
        order("tmall", "O1", "2026-01-05 10:00:00", buyer_id="tb1", receiver_mobile=" 138-0013-8000 "),
        # Blank identifiers are left out.
        order("jd", "O2", "2026-01-05 11:00:00", buyer_id="   ", member_id="M2", receiver_mobile=""),
        # Two versions in the day: the identifiers of the newest.
        order("tmall", "O3", "2026-01-05 12:00:00", buyer_id="old", receiver_mobile="13900000000"),
        order("tmall", "O3", "2026-01-05 12:00:00", buyer_id="tb3"),
    ])

    def row(record, field, id_type, raw_value, scope, event_at):
        return (DS, "ecom", "orders", f"ecom.orders:{record}", field, id_type, raw_value, scope, ts(event_at))

    expected = spark.createDataFrame([
        row("tmall:O1", "buyer_id", "ecom_buyer_id", "tb1", "tmall", "2026-01-05 10:00:00"),
        row("tmall:O1", "receiver_mobile", "mobile", " 138-0013-8000 ", None, "2026-01-05 10:00:00"),
        row("jd:O2", "member_id", "member_id", "M2", None, "2026-01-05 11:00:00"),
        row("tmall:O3", "buyer_id", "ecom_buyer_id", "tb3", "tmall", "2026-01-05 12:00:00"),
    ], EVIDENCE_DDL)
    assertDataFrameEqual(identity_evidence.build("ecom", "orders", ods_orders), expected, checkRowOrder=False)


def test_evidence_of_wechat_users_scopes_openids_by_app(spark):
    def user(app_id, app_type, openid, **identifiers):
        return {"app_id": app_id, "app_type": app_type, "openid": openid, "updated_at": ts("2026-01-05 08:00:00"),
                **identifiers}

    ods_users = ods(spark, "wechat_users", [
        user("wxA", "mini_program", "o1", unionid="u1", mobile=" 13800138000", member_id="M1", nickname="小明"),
        # The same openid in another app is another identifier.
        user("wxB", "official_account", "o1", unionid="u1", mobile="  "),
    ])

    def row(record, field, id_type, raw_value, scope):
        return (DS, "wechat", "users", f"wechat.users:{record}", field, id_type, raw_value, scope,
                ts("2026-01-05 08:00:00"))

    expected = spark.createDataFrame([
        row("wxA:o1", "openid", "wx_openid", "o1", "wxA"),
        row("wxA:o1", "unionid", "wx_unionid", "u1", None),
        row("wxA:o1", "mobile", "mobile", " 13800138000", None),
        row("wxA:o1", "member_id", "member_id", "M1", None),
        row("wxB:o1", "openid", "wx_openid", "o1", "wxB"),
        row("wxB:o1", "unionid", "wx_unionid", "u1", None),
    ], EVIDENCE_DDL)
    assertDataFrameEqual(identity_evidence.build("wechat", "users", ods_users), expected, checkRowOrder=False)
