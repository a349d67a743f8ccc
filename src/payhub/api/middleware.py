"""Request ids, the access log and the body-size limit, as plain ASGI middleware."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payhub.core.errors import PayHubError, language_from_header
from payhub.core.ids import new_id
from payhub.core.logging import request_id_var

log = logging.getLogger("payhub.access")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_id("req")
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        headers = dict(scope.get("headers") or [])
        language = language_from_header(headers.get(b"accept-language", b"").decode("latin-1"))

        if not _storable_target(scope):
            # A NUL in the path or the query would reach the database as text, which
            # PostgreSQL refuses (a 500): refused here, once for every route.
            refusal = PayHubError("validation_error", detail="the URL holds a NUL character")
            await self._refuse(send, request_id, language, refusal)
            self._log(scope, refusal.status, started)
            request_id_var.reset(token)
            return

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send, request_id, language)
            self._log(scope, 413, started)
            request_id_var.reset(token)
            return

        if declared is None:
            # A body of unknown length (chunked) is read here, up to the limit, before the
            # app sees it, so an oversized one is refused cleanly with 413.
            body, too_large = await self._read_capped(receive)
            if too_large:
                await self._too_large(send, request_id, language)
                self._log(scope, 413, started)
                request_id_var.reset(token)
                return
            receive = _replay(body, receive)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._log(scope, status, started)
            request_id_var.reset(token)

    async def _read_capped(self, receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), False

    async def _too_large(self, send: Send, request_id: str, language: str) -> None:
        error = PayHubError("payload_too_large", limit=self.max_body_bytes)
        await self._refuse(send, request_id, language, error)

    async def _refuse(self, send: Send, request_id: str, language: str, error: PayHubError) -> None:
        body = json.dumps(error.to_body(request_id=request_id, language=language)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _log(self, scope: Scope, status: int, started: float) -> None:
        extra: dict[str, Any] = {
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        }
        log.info("request", extra=extra)


def _storable_target(scope: Scope) -> bool:
    """False when the (decoded) path or query string holds a NUL character."""
    query = unquote_plus(bytes(scope.get("query_string") or b"").decode("latin-1"))
    return "\x00" not in str(scope.get("path", "")) and "\x00" not in query


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
