"""Tests of the sample landing-zone generator (jobs/sample_data/).

The rules of the landing contract are re-implemented here with csv, json, re and datetime
only, so the generator's defects and its ground truth are checked against an independent
parser rather than against its own code. The population is cut into several chunks, run in
worker processes, so every check also holds across chunks: no identifier handed out twice,
one truth merged from all of them, one file of each column quirk.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import date, datetime
from pathlib import Path
from random import Random

import pytest
import yaml

from jobs.sample_data import generate
from jobs.sample_data.draws import IdShare
from models.ods import reasons

CONF = Path(__file__).resolve().parents[1] / "conf" / "sources.yml"
START = date(2026, 1, 1)
PERSONS, DAYS, SEED, CHUNK_PERSONS = 1000, 3, 7, 400  # three chunks, the last a smaller one

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{3})?$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DECIMAL = re.compile(r"^-?\d+(\.\d{1,2})?$")
INT = re.compile(r"^-?\d+$")
MOBILE = re.compile(r"^1[3-9]\d{9}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
JUNK_DEVICES = {"", "unknown", "00000000-0000-0000-0000-000000000000"}
PLATFORMS = ("tmall", "jd", "douyin", "own_mall")


# --- an independent reader of the landing zone ------------------------------------------------


def load_contract() -> dict[str, dict]:
    conf = yaml.safe_load(CONF.read_text(encoding="utf-8"))
    contract = {}
    for source, source_conf in conf["sources"].items():
        for entity, entity_conf in source_conf["entities"].items():
            contract[f"{source}/{entity}"] = {
                "format": entity_conf["format"],
                "encoding": source_conf.get("encoding", conf["defaults"]["encoding"]),
                "columns": entity_conf["columns"],
            }
    return contract


def is_real(text: str, parse) -> bool:
    """Whether a value of the right shape is a real calendar date or time."""
    try:
        parse(text)
    except ValueError:
        return False
    return True


def value_problems(column: dict, raw) -> list[str]:
    """What the contract says is wrong with one value (empty list: nothing)."""
    name, kind = column["name"], column["type"]
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raw = str(raw)
    if kind in ("list", "object", "items"):
        return []
    text = "" if raw is None else raw.strip()
    if text == "":
        return [f"{reasons.MISSING_VALUE}:{name}"] if column.get("required") else []
    if kind == "timestamp":
        ok = TIMESTAMP.match(text) and is_real(text, datetime.fromisoformat)
        return [] if ok else [f"{reasons.BAD_TIMESTAMP}:{name}"]
    if kind == "date":
        ok = DATE.match(text) and is_real(text, date.fromisoformat)
        return [] if ok else [f"{reasons.BAD_DATE}:{name}"]
    if kind in ("decimal", "int"):
        if not (DECIMAL if kind == "decimal" else INT).match(text):
            return [f"{reasons.BAD_NUMBER}:{name}"]
        if column.get("min") is not None and float(text) < column["min"]:
            return [f"{reasons.OUT_OF_RANGE}:{name}"]
        return []
    if kind == "enum" and text not in column["values"]:
        return [f"{reasons.BAD_ENUM}:{name}"]
    return []


def read_records(path: Path, spec: dict):
    """(line number, record dict or None when malformed, raw line) for each data line."""
    if spec["format"] == "csv":
        encoding = "utf-8-sig" if spec["encoding"] == "utf-8" else spec["encoding"]
        lines = path.read_bytes().decode(encoding).split("\n")
        assert lines[-1] == "", "a CSV file ends with a newline"
        header = next(csv.reader([lines[0]]))
        for number, line in enumerate(lines[1:-1], start=2):
            fields = next(csv.reader([line]))
            yield number, (dict(zip(header, fields)) if len(fields) == len(header) else None), line
    else:
        lines = path.read_text(encoding="utf-8").split("\n")
        assert lines[-1] == ""
        for number, line in enumerate(lines[:-1], start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            yield number, (record if isinstance(record, dict) else None), line


def record_problems(record: dict | None, spec: dict) -> list[str]:
    if record is None:
        return [reasons.MALFORMED_RECORD]
    return [p for column in spec["columns"] for p in value_problems(column, record.get(column["name"]))]


def landing_files(out: Path, contract: dict) -> list[tuple[str, str, Path]]:
    return [(name, dt_dir.name[3:], path)
            for name in contract
            for dt_dir in sorted((out / name).glob("dt=*"))
            for path in sorted(dt_dir.iterdir())]


def fingerprint(record: dict) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


def cents(text: str) -> int:
    return round(float(text) * 100)


def good_records(scanned: dict, entity: str) -> list[dict]:
    return [record for name, _, record, _, problems in scanned.values()
            if name == entity and not problems]


def read_truth(out: Path, name: str) -> list[dict]:
    with open(out / "_truth" / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("landing")
    summary = generate(out, persons=PERSONS, start=START, days=DAYS, seed=SEED, chunk_persons=CHUNK_PERSONS)
    return out, summary


@pytest.fixture(scope="module")
def contract() -> dict:
    return load_contract()


@pytest.fixture(scope="module")
def scanned(landing, contract) -> dict:
    """Every line of every file, with the problems the independent checker finds on it."""
    out, _ = landing
    found = {}
    seen_by_batch: dict[tuple[str, str], set] = {}  # records met per entity and dt
    for name, dt, path in landing_files(out, contract):
        spec = contract[name]
        seen = seen_by_batch.setdefault((name, dt), set())
        for number, record, line in read_records(path, spec):
            problems = record_problems(record, spec)
            if not problems:
                if fingerprint(record) in seen:
                    problems = [reasons.DUPLICATE_ROW]
                seen.add(fingerprint(record))
            found[(path.relative_to(out).as_posix(), number)] = (name, dt, record, line, problems)
    return found


# --- tests ------------------------------------------------------------------------------------


def test_same_arguments_give_the_same_bytes(tmp_path):
    def snapshot(out: Path) -> dict[str, bytes]:
        return {p.relative_to(out).as_posix(): p.read_bytes()
                for p in sorted(out.rglob("*")) if p.is_file()}

    first, second = tmp_path / "a", tmp_path / "b"
    assert generate(first, 200, START, 2, 3, chunk_persons=80) == generate(second, 200, START, 2, 3, chunk_persons=80)
    assert snapshot(first) == snapshot(second)
    generate(second, 200, START, 2, 4, chunk_persons=80)
    assert snapshot(first) != snapshot(second)


def test_chunks_count_and_draw_identifier_numbers_from_disjoint_shares():
    rng, shares = Random(5), [IdShare(index, 3) for index in range(3)]
    drawn = [{share.draw(rng, 10, 40) for _ in range(300)} for share in shares]
    assert set().union(*drawn) == set(range(10, 40))  # together, the whole range and only it
    assert sum(map(len, drawn)) == 30  # and no number in two shares
    counted = [share.nth(n) for share in shares for n in range(1, 100)]
    assert len(set(counted)) == len(counted)
    assert IdShare().draw(Random(5), 10, 40) == Random(5).randrange(10, 40)


def test_rerun_replaces_earlier_output(tmp_path):
    generate(tmp_path, 100, START, 3, 1)
    generate(tmp_path, 100, START, 1, 1)
    assert sorted(p.name for p in (tmp_path / "crm" / "members").iterdir()) == ["dt=2026-01-01"]


def test_summary_matches_the_files(landing, contract, scanned):
    out, summary = landing
    assert summary["dts"] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert summary["files"] == len(landing_files(out, contract))
    rows = {name: 0 for name in contract}
    for name, *_ in scanned.values():
        rows[name] += 1
    assert summary["rows"] == rows
    saved = json.loads((out / "_truth" / "summary.json").read_text(encoding="utf-8"))
    assert saved["arguments"] == {"persons": PERSONS, "start": "2026-01-01", "days": DAYS, "seed": SEED,
                                  "chunk_persons": CHUNK_PERSONS}


def test_every_entity_has_files_on_the_first_dt(landing, contract):
    out, _ = landing
    for name, spec in contract.items():
        assert list((out / name / "dt=2026-01-01").glob(f"part-*.{spec['format']}")), name


def test_bad_rows_truth_is_exactly_what_an_independent_checker_finds(landing, scanned):
    out, _ = landing
    truth = {(row["file"], int(row["line"])): row for row in read_truth(out, "bad_rows.csv")}
    found = {where: problems for where, (*_, problems) in scanned.items() if problems}
    assert set(found) == set(truth)
    for where, problems in found.items():
        name, dt, *_ = scanned[where]
        row = truth[where]
        assert problems == [row["reason"]], where  # exactly one defect, the one named
        assert (f"{row['source']}/{row['entity']}", row["dt"]) == (name, dt)


def test_truth_lines_point_at_the_defect(landing, contract, scanned):
    out, _ = landing
    first_seen = {}
    for where, (name, dt, record, _, _) in scanned.items():
        if record is not None:
            first_seen.setdefault((name, dt, fingerprint(record)), where)
    for row in read_truth(out, "bad_rows.csv"):
        name, _, record, line, _ = scanned[(row["file"], int(row["line"]))]
        code, _, column = row["reason"].partition(":")
        if code == reasons.MALFORMED_RECORD and contract[name]["format"] == "csv":
            header = (out / row["file"]).read_bytes().split(b"\n", 1)[0]
            assert len(next(csv.reader([line]))) != len(header.split(b","))
        elif code == reasons.MALFORMED_RECORD:
            with pytest.raises((json.JSONDecodeError, AssertionError)):
                assert isinstance(json.loads(line), dict)
        elif code == reasons.MISSING_VALUE:
            assert record[column] in (None, "")
        elif code == reasons.OUT_OF_RANGE:
            [spec] = [c for c in contract[name]["columns"] if c["name"] == column]
            assert float(record[column]) < spec["min"]
        elif code == reasons.DUPLICATE_ROW:
            first = first_seen[(name, row["dt"], fingerprint(record))]
            assert first < (row["file"], int(row["line"]))


def test_every_reason_kind_is_present_in_several_entities(landing):
    out, _ = landing
    entities_by_code: dict[str, set] = {}
    for row in read_truth(out, "bad_rows.csv"):
        entities_by_code.setdefault(row["reason"].split(":")[0], set()).add(row["entity"])
    codes = [reasons.MALFORMED_RECORD, reasons.MISSING_VALUE, reasons.BAD_TIMESTAMP, reasons.BAD_DATE,
             reasons.BAD_NUMBER, reasons.OUT_OF_RANGE, reasons.BAD_ENUM, reasons.DUPLICATE_ROW]
    assert sorted(entities_by_code) == sorted(codes)
    for code in codes:
        assert len(entities_by_code[code]) >= 2, code


def test_bad_row_share_per_entity(landing):
    _, summary = landing
    for name, rows in summary["rows"].items():
        if rows >= 500:
            assert 0.005 <= summary["bad_rows"][name] / rows <= 0.025, name


def test_csv_and_jsonl_shapes(landing, contract, scanned):
    out, _ = landing
    boms = utf8_csv = 0
    for name, _, path in landing_files(out, contract):
        data = path.read_bytes()
        assert b"\r" not in data
        if contract[name]["format"] == "csv" and contract[name]["encoding"] == "utf-8":
            utf8_csv += 1
            boms += data.startswith(b"\xef\xbb\xbf")
    assert 0 < boms < utf8_csv
    iso = plain = 0
    for name, _, record, _, problems in scanned.values():
        if problems or name != "crm/members":
            continue
        iso += "T" in record["updated_at"]
        plain += " " in record["updated_at"]
    assert 0.03 < iso / (iso + plain) < 0.2


def test_one_file_has_an_extra_column_and_one_lacks_guide_id(landing, contract):
    out, _ = landing
    headers = {}
    for name, _, path in landing_files(out, contract):
        if contract[name]["format"] == "csv":
            encoding = {"utf-8": "utf-8-sig"}.get(contract[name]["encoding"], contract[name]["encoding"])
            first = path.read_bytes().split(b"\n", 1)[0].decode(encoding)
            headers[path.relative_to(out).as_posix()] = (name, first.split(","))
    extra = [f for f, (name, cols) in headers.items()
             if set(cols) - {c["name"] for c in contract[name]["columns"]}]
    lacking = [f for f, (name, cols) in headers.items()
               if name == "pos/orders" and "guide_id" not in cols]
    assert len(extra) == 1 and extra[0].startswith("crm/members/")
    assert len(lacking) == 1


def test_money_adds_up_on_good_store_orders(scanned):
    items: dict[str, int] = {}
    for item in good_records(scanned, "pos/order_items"):
        assert cents(item["amount"]) == int(item["qty"]) * cents(item["unit_price"])
        items[item["order_id"]] = items.get(item["order_id"], 0) + cents(item["amount"])
    orders = good_records(scanned, "pos/orders")
    checked = 0
    for order in orders:
        total, discount = cents(order["total_amount"]), cents(order["discount_amount"])
        assert cents(order["pay_amount"]) == total - discount
        if order["order_id"] in items:
            assert items[order["order_id"]] == total
            checked += 1
    assert checked > 0.9 * len(orders)


def test_returns_reference_an_earlier_sale(scanned):
    orders = good_records(scanned, "pos/orders")
    sales = {r["order_id"] for r in orders if r["order_type"] == "sale"}
    returns = [r for r in orders if r["order_type"] == "return"]
    assert returns
    assert sum(r["orig_order_id"] in sales for r in returns) > 0.8 * len(returns)


def test_identifiers_are_canonical_and_owned_once(landing):
    out, _ = landing
    rows = read_truth(out, "identifiers.csv")
    checks = {
        "member_id": lambda v: re.fullmatch(r"M\d{8}", v),
        "card_no": lambda v: v == v.strip().upper() and re.fullmatch(r"C\d{10}", v),
        "mobile": MOBILE.match,
        "email": lambda v: v == v.strip().lower() and EMAIL.match(v),
        "wx_unionid": lambda v: len(v) == 28,
        "wx_openid": lambda v: len(v) == 28,
        "device_id": lambda v: v == v.lower() and v not in JUNK_DEVICES,
        "ecom_buyer_id": lambda v: v.split(":", 1)[0] in PLATFORMS and len(v.split(":", 1)[1]) > 3,
    }
    assert sorted({row["id_type"] for row in rows}) == sorted(checks)
    for row in rows:
        assert checks[row["id_type"]](row["id_value"]), row
    owners = {}
    for row in rows:
        owner = owners.setdefault((row["id_type"], row["id_value"]), row["person_id"])
        assert owner == row["person_id"], row


def test_traps_never_become_identifiers(landing):
    out, _ = landing
    owner = {(r["id_type"], r["id_value"]): r["person_id"] for r in read_truth(out, "identifiers.csv")}
    identifiers = set(owner)
    non_identifiers = read_truth(out, "non_identifiers.csv")
    assert sorted({r["kind"] for r in non_identifiers}) == [
        "invalid", "junk_device", "masked", "placeholder", "store_phone"]
    for row in non_identifiers:
        raw = row["raw_value"]
        canonical = re.sub(r"\D", "", raw) if row["id_type"] == "mobile" else raw.strip().lower()
        assert (row["id_type"], canonical) not in identifiers, row
        if row["kind"] == "masked":
            assert re.fullmatch(r"1\d{2}\*{4}\d{4}", row["raw_value"])
        if row["kind"] == "invalid" and row["id_type"] == "mobile":
            assert not MOBILE.match(row["raw_value"])
        if row["kind"] == "invalid" and row["id_type"] == "email":
            assert not EMAIL.match(row["raw_value"].strip())
    shared = read_truth(out, "shared.csv")
    assert sorted({r["kind"] for r in shared}) == ["family_device", "gift_receiver", "store_phone"]
    for row in shared:
        persons = row["person_ids"].split(";")
        assert len(persons) >= 2 and persons == sorted(set(persons)), row
        if row["kind"] == "family_device":
            assert len(persons) <= 4 and ("device_id", row["id_value"]) not in identifiers
        if row["kind"] == "gift_receiver":
            assert owner[("mobile", row["id_value"])] in persons  # the receiver owns the mobile


def test_store_phone_is_typed_for_100_persons_orders(landing, scanned):
    out, _ = landing
    [store_phone] = [r for r in read_truth(out, "shared.csv") if r["kind"] == "store_phone"]
    assert len(store_phone["person_ids"].split(";")) >= 100
    orders = [r for r in good_records(scanned, "pos/orders") if r["mobile"] == store_phone["id_value"]]
    assert len(orders) >= 100
    assert len({r["store_id"] for r in orders}) == 1


def test_dirty_identifier_forms_are_present(scanned):
    members = good_records(scanned, "crm/members")
    mobiles = [r["mobile"] for r in members]
    assert any(m.startswith("+86 ") for m in mobiles)
    assert any(m.startswith("86-") for m in mobiles)
    assert any(re.fullmatch(r"1\d{2}-\d{4}-\d{4}", m) for m in mobiles)
    assert any(m != m.strip() for m in mobiles)
    cards = [r["card_no"] for r in members]
    assert any(c.startswith("c") for c in cards) and any(c.startswith("C") for c in cards)
    emails = [r["email"] for r in members if r["email"]]
    assert any(e != e.strip() for e in emails) and any(e != e.lower() for e in emails)
    assert {"M", "F", "男", "女", "U"} <= {r["gender"] for r in members}
    masked = [r["receiver_mobile"] for r in good_records(scanned, "ecom/orders")
              if r["platform"] in ("jd", "douyin")]
    assert masked and all(re.fullmatch(r"1\d{2}\*{4}\d{4}", m) for m in masked)
    devices = {r["device_id"] for r in good_records(scanned, "wechat/events")}
    assert {"", "unknown", "00000000-0000-0000-0000-000000000000"} <= devices
    assert any(d and d != d.lower() and d != "00000000-0000-0000-0000-000000000000" for d in devices)


def test_changing_records_come_again_on_later_dts(scanned):
    first_dt = START.isoformat()
    ecom = {}
    for name, dt, r, _, p in scanned.values():
        if name == "ecom/orders" and not p:
            ecom.setdefault((r["platform"], r["order_id"]), []).append((dt, r["status"]))
    progressed = [v for v in ecom.values() if len(v) > 1 and v[0][0] == first_dt]
    assert progressed
    for versions in ecom.values():
        assert len({dt for dt, _ in versions}) == len(versions)  # one version per extract
    late_bound = {}
    for name, dt, r, _, p in scanned.values():
        if name == "wechat/users" and not p:
            late_bound.setdefault(r["openid"], []).append(bool(r["member_id"]))
    assert any(flags[0] is False and flags[-1] is True for flags in late_bound.values())


def test_reregistered_members_share_a_mobile(landing, scanned):
    out, _ = landing
    person_of = {r["id_value"]: r["person_id"] for r in read_truth(out, "identifiers.csv")
                 if r["id_type"] == "member_id"}
    members_by_person: dict[str, set] = {}
    for name, _, r, _, p in scanned.values():
        if name == "crm/members" and not p:
            members_by_person.setdefault(person_of[r["member_id"]], set()).add(r["member_id"])
    assert any(len(ids) > 1 for ids in members_by_person.values())
