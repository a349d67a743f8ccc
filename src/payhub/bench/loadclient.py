"""A lean HTTP/1.1 client for load generation: one keep-alive connection per simulated
client, requests written as bytes, answers read by `Content-Length`.

The load process shares the machine's cores with the server and the database it measures:
a general-purpose client (httpx) spent more CPU per request than the server's own framework
does, which understated the server. This one does only what the benchmark's requests need
(JSON bodies, fixed headers, no redirects, no compression, no chunked answers) and refuses
anything else loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class LoadClientError(Exception):
    """The server answered in a way this client does not speak, or the connection failed."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One keep-alive connection; requests on it go one after another."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"an http:// base URL is needed, not {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        fixed = {"Host": f"{self.host}:{self.port}", **headers}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def post(
        self, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode("latin-1")
        head = (
            f"POST {path} HTTP/1.1\r\n".encode("latin-1")
            + self._fixed
            + extra
            + b"Content-Type: application/json\r\nContent-Length: "
            + str(len(payload)).encode()
            + b"\r\n\r\n"
        )
        try:
            reader, writer = await self._open()
            writer.write(head + payload)
            return await self._answer(reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            await self.close()
            raise LoadClientError(type(exc).__name__) from exc

    async def _answer(self, reader: asyncio.StreamReader) -> Answer:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0].split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
            raise LoadClientError(f"not an HTTP/1.x answer: {lines[0][:60]!r}")
        length: int | None = None
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding":
                raise LoadClientError("chunked answers are not supported")
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        body = await reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return Answer(int(status_line[1]), body)
