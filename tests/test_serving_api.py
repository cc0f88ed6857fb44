"""`cdp serve` per endpoint, against a real server and PostgreSQL (tests/serving_server.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from urllib.parse import quote

import httpx
import pytest

from jobs.serving.access_log import AccessLog, access_logger

from jobs.serving.api import create_app
from jobs.serving.keys import ONEID_READ, PROFILE_READ, RELOAD_AFTER_SECONDS, KeyRing, create_key, key_hash, revoke_key
from jobs.serving.settings import load_serve_settings
from serving_server import CRM_KEY, OPENID, OUTPUT, PROFILE_ONLY_KEY, STAFF_KEY, Server, empty_database, shared_server


@pytest.fixture(scope="module")
def server() -> Server:
    return shared_server()


def lookup(server: Server, id_type: str, id_value: str, **extra) -> tuple[int, dict]:
    with server.client() as client:
        response = client.get("/v1/oneid", params={"id_type": id_type, "id_value": id_value, **extra})
    return response.status_code, response.json()


@pytest.mark.parametrize("id_type, typed, canonical", [
    ("mobile", "+86 138-0013-8000", "13800138000"),
    ("mobile", "＋８６ １３８－００１３－８０００", "13800138000"),  # full-width, from a Chinese IME
    ("mobile", "0086 (138) 0013 8000", "13800138000"),
    ("email", "  Zhang.Wei@QQ.COM ", "zhang.wei@qq.com"),
    ("card_no", " c8800000001 ", "C8800000001"),
    ("device_id", "6D92078A-8246-4BA4-AE5B-76104861E7DC", "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
    ("ecom_buyer_id", "TMall:tb0001", "tmall:tb0001"),
    ("wx_openid", f" {OPENID}", OPENID),
])
def test_lookup_normalises_the_value_as_the_pipeline_does(server, id_type, typed, canonical):
    assert lookup(server, id_type, typed) == (200, {"id_type": id_type, "id_value": canonical, "status": "found",
                                                    "one_id": "OID_A"})


def test_buyer_id_with_its_platform_as_scope(server):
    assert lookup(server, "ecom_buyer_id", "tb0001", scope="TMALL")[1]["one_id"] == "OID_A"


@pytest.mark.parametrize("id_type, typed, reason", [
    ("mobile", "13800000000", "placeholder"),
    ("mobile", "+86 139 0000 0000", "placeholder"),  # judged on the canonical digits
    ("mobile", "138****8000", "masked"),
    ("mobile", "1380013800", "bad_format"),
    ("email", "test@test.com", "placeholder"),
    ("email", "zhang.wei@", "bad_format"),
    ("device_id", "00000000-0000-0000-0000-000000000000", "junk"),
    ("ecom_buyer_id", "tb0001", "missing_scope"),
    ("qq_number", "12345", "unknown_type"),
])
def test_a_value_that_is_no_identifier_is_answered_as_such(server, id_type, typed, reason):
    status, body = lookup(server, id_type, typed)
    assert (status, body["status"], body["reason"]) == (422, "invalid", reason)
    assert body["message"]


def test_an_identifier_nobody_has_is_not_found(server):
    assert lookup(server, "mobile", "137 0013 7000") == (404, {"id_type": "mobile", "id_value": "13700137000",
                                                               "status": "not_found", "one_id": None})


def test_a_merged_away_one_id_answers_with_the_survivor(server):
    status, body = lookup(server, "one_id", "OID_OLD")
    assert (status, body["status"], body["one_id"], body["merged_ds"]) == (200, "merged", "OID_A", "2026-01-03")
    assert lookup(server, "one_id", "OID_A")[1] == {"id_type": "one_id", "id_value": "OID_A", "status": "found",
                                                    "one_id": "OID_A"}
    status, body = lookup(server, "one_id", "OID_R")
    assert (status, body["status"], body["retired_ds"]) == (410, "retired", "2026-01-04")
    assert lookup(server, "one_id", "OID_NOBODY")[0] == 404


def test_batch_answers_each_identifier_in_order_with_its_own_status(server):
    asked = [
        {"id_type": "email", "id_value": " Zhang.Wei@QQ.com"},
        {"id_type": "mobile", "id_value": "13800000000"},
        {"id_type": "one_id", "id_value": "OID_OLD"},
        {"id_type": "mobile", "id_value": "139-0013-9000"},
        {"id_type": "member_id", "id_value": "M9999"},
        {"id_type": "fax", "id_value": "1"},
        {"id_type": "member_id"},
        {"id_type": "mobile", "id_value": "+86 138 0013 8000"},
    ]
    with server.client() as client:
        response = client.post("/v1/oneid:batch", json={"identifiers": asked})
    assert response.status_code == 200
    answers = [(a["status"], a.get("one_id"), a.get("reason")) for a in response.json()["results"]]
    assert answers == [
        ("found", "OID_A", None), ("invalid", None, "placeholder"), ("merged", "OID_A", None), ("found", "OID_B", None),
        ("not_found", None, None), ("invalid", None, "unknown_type"), ("invalid", None, "bad_format"),
        ("found", "OID_A", None),
    ]


def test_batch_limit_is_1000_identifiers(server):
    thousand = [{"id_type": "mobile", "id_value": f"137{10_000_000 + n:08d}"} for n in range(999)] + [
        {"id_type": "member_id", "id_value": "M0002"}]
    with server.client() as client:
        full = client.post("/v1/oneid:batch", json={"identifiers": thousand})
        over = client.post("/v1/oneid:batch", json={"identifiers": thousand + [{"id_type": "mobile", "id_value": "1"}]})
    assert full.status_code == 200
    results = full.json()["results"]
    assert len(results) == 1000 and results[-1]["one_id"] == "OID_B"
    assert {result["status"] for result in results[:-1]} == {"not_found"}
    assert (over.status_code, over.json()["error"]["code"], over.json()["error"]["limit"]) == (413, "too_many_identifiers", 1000)


def test_keys_are_required_and_scoped(server):
    with server.client(key=None) as anonymous:
        missing = anonymous.get("/v1/oneid", params={"id_type": "mobile", "id_value": "13800138000"})
        unknown = anonymous.get("/v1/oneid", params={"id_type": "mobile", "id_value": "13800138000"},
                                headers={"Authorization": "Bearer cdp_not-a-key"})
        bearer = anonymous.get("/v1/oneid", params={"id_type": "mobile", "id_value": "13800138000"},
                               headers={"Authorization": f"Bearer {CRM_KEY}"})
        health = anonymous.get("/healthz")
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "missing_api_key")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (401, "unknown_api_key")
    assert bearer.status_code == 200 and health.status_code == 200
    with server.client(CRM_KEY) as crm, server.client(PROFILE_ONLY_KEY) as profile_only:
        crm_profile = crm.get("/v1/profiles/OID_A")
        profile_lookup = profile_only.get("/v1/oneid", params={"id_type": "mobile", "id_value": "13800138000"})
        assert profile_only.get("/v1/profiles/OID_A").status_code == 200
    assert (crm_profile.status_code, crm_profile.json()["error"]["required_scope"]) == (403, "profile:read")
    assert (profile_lookup.status_code, profile_lookup.json()["error"]["code"]) == (403, "missing_scope")


def test_a_running_server_sees_keys_created_and_revoked_without_a_restart(tmp_path, caplog):
    keys_file = tmp_path / "api_keys.json"
    now = [0.0]
    ring = KeyRing(keys_file, clock=lambda: now[0])
    crm = create_key(keys_file, "crm", (ONEID_READ,))
    assert ring.get(key_hash(crm)) is None  # read a moment ago: not yet
    now[0] += RELOAD_AFTER_SECONDS
    assert ring.get(key_hash(crm)).scopes == (ONEID_READ,)
    revoke_key(keys_file, "crm")
    now[0] += RELOAD_AFTER_SECONDS
    assert ring.get(key_hash(crm)) is None
    staff = create_key(keys_file, "staff", (PROFILE_READ,))
    now[0] += RELOAD_AFTER_SECONDS
    assert ring.get(key_hash(staff)).name == "staff"
    keys_file.write_text('[{"name": "typo", "scopes": ["oneid:reed"]}]', encoding="utf-8")
    now[0] += RELOAD_AFTER_SECONDS
    with caplog.at_level(logging.ERROR, logger="cdp.serve.keys"):
        assert ring.get(key_hash(staff)).name == "staff"
    assert "no longer parses; the keys read before it stay in use" in caplog.text


@pytest.mark.parametrize("body, code", [
    (b'{"identifiers": [{"id_type": "mobile", "id_value": "138', "invalid_json"),
    (b"not json at all", "invalid_json"),
    (b'{"identifiers": "13800138000"}', "bad_request"),
    (b'{"identifiers": [{"id_type": "mobile", "value": "13800138000"}]}', "bad_request"),  # a misspelt field
    (b'{"identifiers": [{"id_type": 5, "id_value": ["x"]}]}', "bad_request"),
    (b"{}", "bad_request"),
])
def test_malformed_batch_bodies_are_400(server, body, code):
    with server.client() as client:
        response = client.post("/v1/oneid:batch", content=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]


def test_bad_parameters_and_oversized_bodies_are_4xx(server):
    with server.client(STAFF_KEY) as client:
        assert client.get("/v1/oneid", params={"id_type": "mobile"}).json()["error"]["code"] == "bad_request"
        assert client.get("/v1/oneid", params={"id_type": "mobile", "id_value": "1" * 600}).status_code == 400
        assert client.get("/v1/changes", params={"since": "yesterday"}).json()["error"]["code"] == "bad_since"
        assert client.get("/v1/changes", params={"since": "2026-01-01", "cursor": "zzz"}).json()["error"]["code"] == "bad_cursor"
        assert client.get("/v1/changes", params={"since": "2026-01-01", "limit": 10 ** 6}).status_code == 400
        assert client.get("/v1/search", params={"q": "   "}).json()["error"]["code"] == "empty_query"
        assert client.get("/v1/profiles/" + "x" * 100).status_code == 400
        assert client.get("/v1/nothing-here").json()["error"]["code"] == "no_such_route"
        huge = client.post("/v1/oneid:batch", content=b"[" + b" " * 2_000_000 + b"]",
                           headers={"Content-Type": "application/json"})
        chunked = client.post("/v1/oneid:batch", content=(b" " * 65536 for _ in range(40)),
                              headers={"Content-Type": "application/json"})
    assert (huge.status_code, huge.json()["error"]["code"]) == (413, "body_too_large")
    assert "content-length" not in chunked.request.headers
    assert (chunked.status_code, chunked.json()["error"]["code"]) == (413, "body_too_large")


@pytest.mark.parametrize("typed", [
    "' OR '1'='1", "M0001' OR 1=1 --", "M0001; DROP TABLE cdp.id_mapping; --", "%", "M000_", "\\", "\x00M0001",
])
def test_sql_metacharacters_are_plain_data(server, typed):
    before = server.count_rows()
    with server.client(STAFF_KEY) as client:
        single = client.get("/v1/oneid", params={"id_type": "member_id", "id_value": typed})
        batch = client.post("/v1/oneid:batch", json={"identifiers": [{"id_type": "member_id", "id_value": typed},
                                                                     {"id_type": typed, "id_value": typed}]})
        search = client.get("/v1/search", params={"q": typed})
        profile = client.get(f"/v1/profiles/{quote(typed, safe='')}")
    assert single.status_code in (404, 422) and single.json()["status"] in ("not_found", "invalid")
    assert [answer["status"] for answer in batch.json()["results"]][1] == "invalid"
    assert batch.json()["results"][0]["status"] in ("not_found", "invalid")
    assert (search.status_code, search.json().get("results", [])) in ((200, []), (400, []))
    assert profile.status_code in (404, 400)
    assert server.count_rows() == before


def test_profile_is_masked_and_complete(server):
    with server.client(STAFF_KEY) as client:
        view = client.get("/v1/profiles/OID_A").json()
    assert view["one_id"] == "OID_A" and view["merged"] is None
    assert view["profile"]["name"] == "张伟" and view["profile"]["mobile_masked"] == "138****8000"
    assert view["identifiers"]["mobile"][0]["id_value"] == "138****8000"
    assert view["identifiers"]["email"][0]["id_value"] == "z***@qq.com"
    assert view["identifiers"]["wx_openid"][0]["id_value"] == OPENID
    assert "13800138000" not in json.dumps(view) and "zhang.wei@qq.com" not in json.dumps(view)
    assert {group["category"]: [tag["tag_code"] for tag in group["tags"]] for group in view["tags"]} == {
        "价值分层": ["high_value"], "基础属性": ["gender", "city_tier"], "消费行为": ["order_count_365d"]}
    assert (view["rfm"]["rfm_segment"], view["rfm"]["monetary"]) == ("544", 2300.5)
    assert (view["lifecycle"]["stage"], view["lifecycle"]["order_count"]) == ("loyal", 7)
    assert view["segments"] == ["high_value_active", "wechat_engaged"]
    assert [order["order_id"] for order in view["orders"]] == ["T2002", "P1001"]  # newest first
    assert [event["event_id"] for event in view["events"]] == ["E3", "E2", "E1"]
    assert view["published"]["profile"]["ds"] == "2026-01-04"


def test_profile_of_a_merged_away_one_id_is_the_survivors_and_says_so(server):
    with server.client(STAFF_KEY) as client:
        merged = client.get("/v1/profiles/OID_OLD").json()
        retired = client.get("/v1/profiles/OID_R")
        unknown = client.get("/v1/profiles/OID_NOBODY")
    assert (merged["one_id"], merged["merged"]) == ("OID_A", {"from": "OID_OLD", "merged_ds": "2026-01-03"})
    assert (retired.status_code, retired.json()["error"]["code"]) == (410, "retired_one_id")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_one_id")


def test_changes_since_a_date_in_pages(server):
    with server.client() as client:
        everything = client.get("/v1/changes", params={"since": "2026-01-03"}).json()
        first = client.get("/v1/changes", params={"since": "2026-01-03T08:00:00", "limit": 2}).json()
        second = client.get("/v1/changes", params={"since": "2026-01-03", "limit": 2, "cursor": first["next_cursor"]}).json()
    kinds = [(change["ds"], change["from_one_id"], change["to_one_id"], change["kind"]) for change in everything["changes"]]
    assert kinds == [("2026-01-03", "OID_B", "OID_C", "split"), ("2026-01-03", "OID_OLD", "OID_A", "merge"),
                     ("2026-01-04", "OID_R", None, "retired")]
    assert everything["next_cursor"] is None and everything["published"]["ds"] == "2026-01-04"
    assert first["changes"] + second["changes"] == everything["changes"] and second["next_cursor"] is None


@pytest.mark.parametrize("typed, expected", [
    (OPENID, (["OID_A"], [["wx_openid"]])),
    ("+86 139 0013 9000", (["OID_B"], [["mobile"]])),
    ("M0003", (["OID_C"], [["member_id"]])),
    ("OID_OLD", (["OID_A"], [["one_id"]])),
    ("张伟", (["OID_A", "OID_C"], [["name"], ["name"]])),
    ("张", (["OID_A", "OID_C"], [["name_prefix"], ["name_prefix"]])),
    ("李", (["OID_B"], [["name_prefix"]])),
    ("%", ([], [])),  # a LIKE wildcard typed is a letter
    ("_伟", ([], [])),
    ("13800000000", ([], [])),
])
def test_search_takes_any_identifier_a_one_id_or_a_name(server, typed, expected):
    with server.client(STAFF_KEY) as client:
        answer = client.get("/v1/search", params={"q": typed}).json()
    assert ([hit["one_id"] for hit in answer["results"]], [hit["matched_by"] for hit in answer["results"]]) == expected


def test_search_says_why_a_placeholder_finds_nobody(server):
    with server.client(STAFF_KEY) as client:
        answer = client.get("/v1/search", params={"q": "13800000000"}).json()
    assert [(note["id_type"], note["reason"]) for note in answer["not_identifiers"]] == [("mobile", "placeholder")]


def test_request_ids_and_the_json_access_log(server):
    with server.client() as client:
        echoed = client.get("/v1/oneid", params={"id_type": "mobile", "id_value": "13900139000"},
                            headers={"X-Request-ID": "crm-sync-42"})
        generated = client.get("/v1/oneid", params={"id_type": "mobile", "id_value": "13900139000"},
                               headers={"X-Request-ID": "not a plain id <script>"})
    assert echoed.headers["x-request-id"] == "crm-sync-42"
    assert len(generated.headers["x-request-id"]) == 32
    records = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith('{"ts"')]
    [record] = [record for record in records if record["request_id"] == "crm-sync-42"]
    assert (record["method"], record["path"], record["status"], record["api_key"]) == ("GET", "/v1/oneid", 200, "crm")
    assert record["duration_ms"] >= 0
    # The query string carries the identifiers: never logged.
    assert "13900139000" not in server.log.read_text()


def test_nothing_published_yet_is_a_503_that_names_the_publish_stage(server):
    settings = load_serve_settings()
    settings = dataclasses.replace(settings, api_keys_file=OUTPUT / "api_keys.json",
                                   postgres=dataclasses.replace(settings.postgres, database=empty_database()))
    app = create_app(settings)

    async def call() -> httpx.Response:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serve") as client:
                return await client.get("/v1/oneid", params={"id_type": "mobile", "id_value": "13800138000"},
                                        headers={"X-API-Key": CRM_KEY})

    response = asyncio.run(call())
    assert (response.status_code, response.json()["error"]["code"]) == (503, "not_published")
    assert "publish stage" in response.json()["error"]["message"]


def test_an_unexpected_failure_is_a_500_with_its_request_id_and_a_logged_traceback():
    async def failing_app(scope, receive, send):
        raise RuntimeError("the database driver broke")

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = access_logger()
    logger.addHandler(handler)
    try:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=AccessLog(failing_app, body_max_bytes=1024))
            async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
                return await client.get("/v1/oneid", headers={"X-Request-ID": "trace-me"})

        response = asyncio.run(call())
    finally:
        logger.removeHandler(handler)
    assert (response.status_code, response.json()["error"]) == (500, {
        "code": "internal_error", "message": "the server failed; the log has this request id", "request_id": "trace-me"})
    [record] = [json.loads(record.getMessage()) for record in records]
    assert (record["request_id"], record["status"]) == ("trace-me", 500)
    assert "RuntimeError: the database driver broke" in record["error"]


def test_openapi_document_lists_every_route(server):
    with server.client(key=None) as anonymous:
        document = anonymous.get("/openapi.json").json()
    assert {"/v1/oneid", "/v1/oneid:batch", "/v1/changes", "/v1/profiles/{one_id}", "/v1/search"} <= set(document["paths"])
    assert {"APIKeyHeader", "HTTPBearer"} <= set(document["components"]["securitySchemes"])
    single = document["paths"]["/v1/oneid"]["get"]
    assert [(p["name"], p["required"]) for p in single["parameters"]] == [("id_type", True), ("id_value", True),
                                                                          ("scope", False)]
    assert single["security"] == [{"APIKeyHeader": []}, {"HTTPBearer": []}]


def test_the_documents_page_loads_swagger_ui_from_the_server_itself(server):
    with server.client(key=None) as anonymous:
        page = anonymous.get("/docs")
        script = anonymous.get("/docs/static/swagger-ui-bundle.js")
        style = anonymous.get("/docs/static/swagger-ui.css")
    assert page.status_code == 200 and "/openapi.json" in page.text
    # Every script and style the page loads is the server's own: no CDN on a closed network.
    assert re.findall(r'(?:src|href)="([^"]+)"', page.text) == ["/docs/static/swagger-ui.css",
                                                                  "/docs/static/swagger-ui-bundle.js"]
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
