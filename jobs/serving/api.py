"""``cdp serve``: OneID lookups for the CRM and the 360° customer page, over PostgreSQL.

Reads only the tables the publish stage loads (``jobs/serving/schema.sql``), through one asyncpg
pool per worker process. Identifiers are judged by ``jobs/serving/canonical.py``, the pipeline's
own rules, so ``+86 138-0013-8000`` finds ``13800138000`` and a placeholder is answered as one.

Routes (the OpenAPI document is at ``/openapi.json``, rendered at ``/docs``):

* ``GET /v1/oneid``, ``POST /v1/oneid:batch``: identifier → one_id (scope ``oneid:read``);
* ``GET /v1/changes``: merges, splits and retirements since a business date (``oneid:read``);
* ``GET /v1/profiles/{one_id}``, ``GET /v1/search``: the 360° view (``profile:read``);
* ``GET /ui/``: the 360° page, static HTML and JS that call the routes above with the staff
  member's key;
* ``GET /healthz``: whether the database answers (no key).
"""

from __future__ import annotations

import base64
import gc
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParameter
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path

from jobs.config import load_oneid_settings
from jobs.serving import queries
from jobs.serving.access_log import AccessLog, error_body
from jobs.serving.canonical import ID_TYPES, Canonical, NeverIdentifiers, lookup_form, mask_email, mask_mobile
from jobs.serving.keys import ONEID_READ, PROFILE_READ, ApiKey, KeyRing, key_hash
from jobs.serving.settings import ServeSettings, load_serve_settings
from models.cdm.identity_evidence import EMAIL, MOBILE
from oneid.normalize import BAD_FORMAT, JUNK, MASKED, MISSING_SCOPE, PLACEHOLDER, UNKNOWN_TYPE, Validity

STATIC = Path(__file__).parent / "static"
SWAGGER_UI_FILES = "/docs/static"
ONE_ID = "one_id"  # a lookup by one_id: the id itself, or the id a merged-away one answers with
FOUND, MERGED, RETIRED, NOT_FOUND, INVALID = "found", "merged", "retired", "not_found", "invalid"
HTTP_STATUS_OF = {FOUND: 200, MERGED: 200, RETIRED: 410, NOT_FOUND: 404, INVALID: 422}
WHY_NOT_AN_IDENTIFIER = {
    MASKED: "a masked value (its source hid digits) is never an identifier",
    PLACEHOLDER: "a placeholder, typed when there was nothing to type, is never an identifier",
    BAD_FORMAT: "not of the form SPEC section 3 gives this id_type",
    JUNK: "a value SDKs report when they have no device id, never an identifier",
    MISSING_SCOPE: "an ecom_buyer_id needs its platform: send platform:buyer_id, or the platform as scope",
    UNKNOWN_TYPE: f"id_type must be one of {', '.join((*ID_TYPES, ONE_ID))}",
}
# Values that must never leave the service raw (SPEC section 4), masked as models/pii.py does.
MASK_OF = {MOBILE: mask_mobile, EMAIL: mask_email}
SEARCH_LIMIT = 20
PAGE_HEADERS = {
    # The page's own scripts and styles only: a value in the data can never run as script.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


# --- OpenAPI shapes (the handlers answer with orjson bytes; these document them) -----------------

class Identifier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_type: str | None = Field(None, max_length=64, description="a type of SPEC section 3, or one_id")
    id_value: str | None = Field(None, max_length=512, description="the value as the caller has it")
    scope: str | None = Field(None, max_length=64, description="the platform of an ecom_buyer_id, the app of a wx_openid")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identifiers: list[Identifier] = Field(description="at most batch_max (1,000) identifiers")


class LookupResult(BaseModel):
    id_type: str | None
    id_value: str | None = Field(None, description="the canonical value searched for")
    status: str = Field(description="found | merged | retired | not_found | invalid")
    one_id: str | None = Field(None, description="the current one_id (the survivor, for a merged one_id)")
    merged_ds: date | None = Field(None, description="when the asked one_id was merged into one_id")
    retired_ds: date | None = None
    reason: str | None = Field(None, description="why the value is no identifier (invalid)")
    message: str | None = None


class BatchResult(BaseModel):
    results: list[LookupResult] = Field(description="one per identifier, in the order asked")


class ErrorBody(BaseModel):
    error: dict[str, Any] = Field(description="code, message, request_id and details")


ERRORS = {status: {"model": ErrorBody} for status in (400, 401, 403, 413, 503)}
LOOKUP_LIMITS = {"id_type": 64, "id_value": 512, "scope": 64}
LOOKUP_PARAMETERS = [
    {"name": "id_type", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 64},
     "description": "a type of SPEC section 3, or one_id"},
    {"name": "id_value", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 512},
     "description": "as the caller has it; normalised here as the pipeline normalises it"},
    {"name": "scope", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 64},
     "description": "the platform of an ecom_buyer_id (or send platform:buyer_id), the app of a wx_openid"},
]


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content, default=str), status_code=status, media_type="application/json")


# --- auth -----------------------------------------------------------------------------------------

_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key (cdp api-key create)")
_bearer = HTTPBearer(auto_error=False, description="the same API key as a bearer token")


def authorise(request: Request, scope: str, presented: str | None) -> ApiKey:
    """The key ``presented`` if it is known and holds ``scope``; 401 or 403 otherwise."""
    if not presented:
        raise ApiError(401, "missing_api_key", "send an API key as 'X-API-Key: <key>' or 'Authorization: Bearer <key>'")
    api_key = request.app.state.keys.get(key_hash(presented))
    if api_key is None:
        raise ApiError(401, "unknown_api_key", "this API key is not known (revoked, or mistyped)")
    request.state.api_key = api_key.name
    if scope not in api_key.scopes:
        raise ApiError(403, "missing_scope", f"the key {api_key.name!r} lacks the scope {scope!r}",
                       required_scope=scope, key_scopes=list(api_key.scopes))
    return api_key


def presented_key(request: Request) -> str | None:
    header = request.headers
    key = header.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = header.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def require(scope: str):
    """A dependency that lets a request through only with a key holding ``scope``; it also
    declares the two ways to send a key in the OpenAPI document."""

    async def check(request: Request, header_key: Annotated[str | None, Depends(_key_header)],
                    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> ApiKey:
        return authorise(request, scope, header_key or (bearer.credentials if bearer else None))

    return Depends(check)


# --- answers ------------------------------------------------------------------------------------

def _invalid(id_type: str | None, reason: str) -> dict[str, Any]:
    return {"id_type": id_type, "status": INVALID, "reason": reason, "message": WHY_NOT_AN_IDENTIFIER[reason]}


def _one_id_answer(asked: str, answer: queries.OneIdAnswer) -> dict[str, Any]:
    result = {"id_type": ONE_ID, "id_value": asked}
    if answer.merged_ds is not None:
        return {**result, "status": MERGED, "one_id": answer.one_id, "merged_ds": answer.merged_ds,
                "message": f"{asked} was merged into {answer.one_id}; keep {answer.one_id}"}
    if answer.retired_ds is not None:
        return {**result, "status": RETIRED, "retired_ds": answer.retired_ds,
                "message": f"{asked} was retired: its identifiers now belong to other one_ids (GET /v1/changes)"}
    return {**result, "status": FOUND if answer.one_id else NOT_FOUND, "one_id": answer.one_id}


async def _answer_all(request: Request, identifiers: list[Identifier]) -> list[dict[str, Any]]:
    """One answer per identifier, in order: two statements however many identifiers there are."""
    never: NeverIdentifiers = request.app.state.never
    answers: list[dict[str, Any] | None] = [None] * len(identifiers)
    keys, key_positions, one_ids, one_id_positions = [], [], [], []
    for position, item in enumerate(identifiers):
        if _holds_nul(item.id_type, item.id_value, item.scope):
            answers[position] = _invalid(item.id_type, BAD_FORMAT)
            continue
        if item.id_type == ONE_ID:
            asked = (item.id_value or "").strip()
            if asked:
                one_ids.append(asked)
                one_id_positions.append(position)
            else:
                answers[position] = _invalid(ONE_ID, BAD_FORMAT)
            continue
        judged: Canonical = lookup_form(item.id_type, item.id_value, item.scope, never)
        if judged.invalid_reason:
            answers[position] = _invalid(item.id_type, judged.invalid_reason)
        else:
            keys.append((item.id_type, judged.id_value))
            key_positions.append(position)
    pool = request.app.state.pool
    found = await queries.lookup_many(pool, keys) if len(keys) > 1 else (
        {0: one_id} if keys and (one_id := await queries.lookup(pool, *keys[0])) else {})
    for index, (position, (id_type, id_value)) in enumerate(zip(key_positions, keys)):
        one_id = found.get(index)
        answers[position] = {"id_type": id_type, "id_value": id_value, "status": FOUND if one_id else NOT_FOUND,
                             "one_id": one_id}
    if one_ids:
        for position, asked, answer in zip(one_id_positions, one_ids, await queries.resolve_one_ids(pool, one_ids)):
            answers[position] = _one_id_answer(asked, answer)
    return answers


def _holds_nul(*texts: str | None) -> bool:
    """PostgreSQL text cannot hold NUL, so no stored value does; a statement given one would fail."""
    return any(text and "\x00" in text for text in texts)


def _refuse_nul(name: str, text: str) -> None:
    if _holds_nul(text):
        raise ApiError(400, "bad_character", f"{name} holds a NUL character, which no stored value has")


def _masked_identifiers(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        mask = MASK_OF.get(row["id_type"])
        value = mask(row["id_value"]) if mask else row["id_value"]
        by_type.setdefault(row["id_type"], []).append({name: row[name] for name in row if name != "id_type"} | {"id_value": value})
    return by_type


def _tags_by_category(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    categories: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        categories.setdefault(row["category_l1"] or "uncategorised", []).append(row)
    return [{"category": name, "tags": tags} for name, tags in categories.items()]


def _since(text: str) -> date:
    try:
        return datetime.fromisoformat(text).date() if "T" in text or " " in text.strip() else date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, "bad_since", f"since must be a date (YYYY-MM-DD) or an ISO date-time, got {text!r}") from None


def _cursor_of(row: dict[str, Any]) -> str:
    key = [row["ds"].isoformat(), row["from_one_id"], row["kind"], row["to_one_id"] or ""]
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode()


def _after(cursor: str | None) -> tuple[date, str, str, str] | None:
    if cursor is None:
        return None
    try:
        ds, from_one_id, kind, to_one_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        after = date.fromisoformat(ds), str(from_one_id), str(kind), str(to_one_id)
        if _holds_nul(*after[1:]):
            raise ValueError("NUL")
        return after
    except (ValueError, TypeError):
        raise ApiError(400, "bad_cursor", "cursor is not one this API gave; start again without it") from None


# --- the application ----------------------------------------------------------------------------

def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """The application; ``uvicorn --factory jobs.serving.api:create_app`` builds one per worker."""
    settings = settings or load_serve_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        postgres = settings.postgres
        app.state.pool = await asyncpg.create_pool(
            host=postgres.host, port=postgres.port, user=postgres.user, password=postgres.password(),
            database=postgres.database, min_size=settings.pool_min_size, max_size=settings.pool_max_size,
            server_settings={"application_name": "cdp-serve"})
        # Start-up leaves the app's objects in the collector's oldest generation, and each full
        # collection walked them all mid-request: frozen, the p99 of lookups paced at 2,000/s
        # fell from 30-40 ms to 14-18 ms (bench-serve).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title="CDP OneID service", version="1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description=(__doc__ or "").split("\n\n")[0])
    app.state.keys = KeyRing(settings.api_keys_file)
    app.state.never = NeverIdentifiers.of(Validity.from_mapping(load_oneid_settings().validity))
    _errors(app)
    _routes(app, settings)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="static")
    app.mount(SWAGGER_UI_FILES, StaticFiles(directory=swagger_ui_path), name="swagger-ui")
    app.add_middleware(AccessLog, body_max_bytes=settings.body_max_bytes)
    return app


def _errors(app: FastAPI) -> None:
    def answer(request: Request, status: int, code: str, message: str, **details: Any) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return Response(error_body(code, message, getattr(request.state, "request_id", None), **details),
                        status_code=status, media_type="application/json", headers=headers)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        return answer(request, error.status, error.code, error.message, **error.details)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> Response:
        problems = [{"field": ".".join(str(part) for part in problem["loc"]), "problem": problem["msg"]}
                    for problem in error.errors()]
        if any(problem["type"] == "json_invalid" for problem in error.errors()):
            return answer(request, 400, "invalid_json", "the request body is not valid JSON", problems=problems)
        return answer(request, 400, "bad_request", "; ".join(f"{p['field']}: {p['problem']}" for p in problems),
                      problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        codes = {404: "no_such_route", 405: "method_not_allowed", 413: "body_too_large"}
        return answer(request, error.status_code, codes.get(error.status_code, "http_error"), str(error.detail))

    @app.exception_handler(asyncpg.UndefinedTableError)
    async def not_published(request: Request, error: asyncpg.UndefinedTableError) -> Response:
        return answer(request, 503, "not_published",
                      f"the serving tables are not in PostgreSQL yet ({error}); run the publish stage (cdp run)")

    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(OSError)
    async def database_down(request: Request, error: Exception) -> Response:
        return answer(request, 503, "database_unavailable", f"PostgreSQL does not answer: {type(error).__name__}")


def _routes(app: FastAPI, settings: ServeSettings) -> None:
    # The CRM's hot path, so no FastAPI dependencies or parameter models: solving them cost more
    # CPU than the lookup itself (bench-serve). The parameters are documented by hand instead.
    @app.get("/v1/oneid", tags=["oneid"], response_model=LookupResult,
             responses={**ERRORS, 404: {"model": LookupResult}, 410: {"model": LookupResult},
                        422: {"model": LookupResult}},
             openapi_extra={"security": [{"APIKeyHeader": []}, {"HTTPBearer": []}], "parameters": LOOKUP_PARAMETERS})
    async def lookup(request: Request):
        """The one_id of one identifier: 200 found (or a merged one_id's survivor), 404 not found,
        410 a retired one_id, 422 a value that is no identifier (masked, placeholder, bad format).
        Needs the scope oneid:read."""
        authorise(request, ONEID_READ, presented_key(request))
        asked = Identifier.model_construct(**{name: request.query_params.get(name) for name in LOOKUP_LIMITS})
        problems = [f"query.{name}: {'Field required' if value is None else f'at most {LOOKUP_LIMITS[name]} characters'}"
                    for name, value in vars(asked).items()
                    if (value is None and name != "scope") or (value is not None and len(value) > LOOKUP_LIMITS[name])]
        if problems:
            raise ApiError(400, "bad_request", "; ".join(problems))
        [answer] = await _answer_all(request, [asked])
        return _json(answer, HTTP_STATUS_OF[answer["status"]])

    @app.post("/v1/oneid:batch", tags=["oneid"], response_model=BatchResult, responses=ERRORS)
    async def lookup_batch(request: Request, _: Annotated[ApiKey, require(ONEID_READ)], batch: BatchRequest):
        """Up to 1,000 identifiers, one answer each in the order asked, each with its own status."""
        if len(batch.identifiers) > settings.batch_max:
            raise ApiError(413, "too_many_identifiers",
                           f"{len(batch.identifiers)} identifiers; at most {settings.batch_max} per request",
                           limit=settings.batch_max)
        return _json({"results": await _answer_all(request, batch.identifiers)})

    @app.get("/v1/changes", tags=["oneid"], responses=ERRORS)
    async def changes(request: Request, _: Annotated[ApiKey, require(ONEID_READ)],
                      since: Annotated[str, Query(max_length=40, description="business date YYYY-MM-DD (or a date-time: its date)")],
                      limit: Annotated[int, Query(ge=1, description="rows per page")] = 1000,
                      cursor: Annotated[str | None, Query(max_length=2048, description="next_cursor of the previous page")] = None):
        """Merges, splits and retirements of one_ids recorded for business dates from ``since`` on,
        oldest first, so the CRM can repoint the ids it keeps. Page with ``next_cursor``."""
        if limit > settings.changes_page_max:
            raise ApiError(400, "limit_too_large", f"limit is at most {settings.changes_page_max}")
        first = _since(since)
        rows = await queries.changes(request.app.state.pool, first, _after(cursor), limit + 1)
        page = rows[:limit]
        return _json({"since": first, "changes": page, "next_cursor": _cursor_of(page[-1]) if len(rows) > limit else None,
                      "published": await queries.merge_log_published(request.app.state.pool)})

    @app.get("/v1/profiles/{one_id}", tags=["profiles"], responses={**ERRORS, 404: {"model": ErrorBody}})
    async def profile(request: Request, _: Annotated[ApiKey, require(PROFILE_READ)],
                      one_id: Annotated[str, PathParameter(max_length=64)]):
        """The 360° view of a one_id: golden record (masked), identifiers by type (mobiles and emails
        masked), current tags by category, RFM, lifecycle, segments, newest orders and events. A
        merged-away one_id answers with its survivor's profile and says so in ``merged``."""
        _refuse_nul("one_id", one_id)
        parts = await queries.profile(request.app.state.pool, one_id, settings.profile_identifiers,
                                      settings.profile_orders, settings.profile_events)
        if parts["profile"] is None:
            [answer] = await queries.resolve_one_ids(request.app.state.pool, [one_id])
            if answer.retired_ds is not None:
                raise ApiError(410, "retired_one_id", f"{one_id} was retired on {answer.retired_ds}; see GET /v1/changes")
            raise ApiError(404, "unknown_one_id", f"no profile has one_id {one_id!r}, and no one_id was merged into one")
        identifiers = parts["identifiers"] or []
        return _json({
            "one_id": parts["one_id"],
            "merged": {"from": one_id, "merged_ds": parts["merged_ds"]} if parts["merged_ds"] else None,
            "profile": parts["profile"],
            "identifiers": _masked_identifiers(identifiers[:settings.profile_identifiers]),
            "identifiers_truncated": len(identifiers) > settings.profile_identifiers,
            "tags": _tags_by_category(parts["tags"] or []),
            "rfm": parts["rfm"],
            "lifecycle": parts["lifecycle"],
            "segments": parts["segments"] or [],
            "orders": parts["orders"] or [],
            "events": parts["events"] or [],
            "published": parts["published"] or {},
        })

    @app.get("/v1/search", tags=["profiles"], responses=ERRORS)
    async def search(request: Request, _: Annotated[ApiKey, require(PROFILE_READ)],
                     q: Annotated[str, Query(min_length=1, max_length=512, description="any identifier, a one_id, a name or its beginning")]):
        """Profiles whose identifier of any type or one_id is ``q``, or whose name is or begins
        with it (the page's search box)."""
        _refuse_nul("q", q)
        text = q.strip()
        if not text:
            raise ApiError(400, "empty_query", "type an identifier, a one_id or a name")
        never = request.app.state.never
        keys, not_identifiers = [], []
        for id_type in ID_TYPES:
            judged = lookup_form(id_type, text, None, never)
            if judged.id_value is not None:
                keys.append((id_type, judged.id_value))
            elif judged.invalid_reason in (MASKED, PLACEHOLDER) or (id_type == EMAIL and "@" in text):
                not_identifiers.append(_invalid(id_type, judged.invalid_reason))
        hits = await queries.search(request.app.state.pool, keys, text, SEARCH_LIMIT)
        return _json({"query": text, "results": hits, "not_identifiers": not_identifiers})

    @app.get("/healthz", tags=["operations"])
    async def health(request: Request):
        """Whether the serving database answers; needs no key."""
        await request.app.state.pool.fetchval("SELECT 1")
        return _json({"status": "ok"})

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title}: API",
                                   swagger_js_url=f"{SWAGGER_UI_FILES}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{SWAGGER_UI_FILES}/swagger-ui.css", swagger_favicon_url="")

    @app.get("/", include_in_schema=False)
    async def root():
        return RedirectResponse("/ui/")

    @app.get("/ui/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)
