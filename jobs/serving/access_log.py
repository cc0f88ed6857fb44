"""Request ids, structured access logs and the request-size limit, as one ASGI middleware.

Pure ASGI rather than Starlette's ``BaseHTTPMiddleware``: that one runs every request through an
extra task and stream, a measurable share of a lookup's millisecond. The log line leaves out the
query string on purpose: it carries the mobiles and emails being looked up (SPEC section 4).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import traceback
import uuid
from typing import Any, Awaitable, Callable

import orjson
from fastapi import HTTPException

ACCESS_LOGGER = "cdp.serve.access"
REQUEST_ID_HEADER = "x-request-id"
# A caller's own request id is kept when it is short and plain, so it can be traced end to end.
_CALLER_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


class BodyTooLarge(HTTPException):
    """A body sent without Content-Length (chunked) that grew past the limit while being read.

    FastAPI's ``HTTPException``, since FastAPI passes that one on from reading a body and would
    turn any other exception into a generic 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over {limit} bytes")


def access_logger() -> logging.Logger:
    """One JSON object per line on stdout, whatever the root logger is set to."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def error_body(code: str, message: str, request_id: str | None, **details: Any) -> bytes:
    """Every error the API answers, in one shape."""
    return orjson.dumps({"error": {"code": code, "message": message, "request_id": request_id, **details}})


class AccessLog:
    """Gives each request an id (``X-Request-ID``), refuses bodies over ``body_max_bytes`` and logs it."""

    def __init__(self, app: Callable, body_max_bytes: int) -> None:
        self.app = app
        self.body_max_bytes = body_max_bytes
        self.logger = access_logger()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        offered = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = offered if _CALLER_REQUEST_ID.match(offered) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        response = {"status": 500, "bytes": 0, "started": False}

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                response["status"], response["started"] = message["status"], True
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", request_id.encode())]}
            elif message["type"] == "http.response.body":
                response["bytes"] += len(message.get("body", b""))
            await send(message)

        failure = None
        try:
            declared = headers.get(b"content-length", b"0")
            if not declared.isdigit():
                await _answer(send_with_id, 400, error_body("bad_content_length", "Content-Length is not a number", request_id))
            elif int(declared) > self.body_max_bytes:
                await _answer(send_with_id, 413, error_body(
                    "body_too_large", f"the request body is {int(declared)} bytes; at most {self.body_max_bytes}", request_id))
            else:
                await self.app(scope, self._limited(receive), send_with_id)
        except Exception:  # noqa: BLE001 - answered and logged here, with the request id
            failure = traceback.format_exc()
            if not response["started"]:
                await _answer(send_with_id, 500, error_body("internal_error", "the server failed; the log has this request id",
                                                           request_id))
        finally:
            record = {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
                "event": "access",
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": response["status"],
                "bytes": response["bytes"],
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": (scope.get("client") or ("", 0))[0],
                "api_key": state.get("api_key"),
            }
            if failure:
                record["error"] = failure
            self.logger.info(orjson.dumps(record).decode())


    def _limited(self, receive: Receive) -> Receive:
        """``receive`` that counts the body's bytes, for bodies whose length was not declared."""
        received = 0

        async def limited() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.body_max_bytes:
                raise BodyTooLarge(self.body_max_bytes)
            return message

        return limited


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
