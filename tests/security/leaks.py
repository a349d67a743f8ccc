"""What the leak scans share: a scanner for card and account numbers, CVVs and secrets,
and the means to capture every place PayHub writes — log lines at DEBUG, API answers, the
cells of every table."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import inspect

from payhub.core.logging import JsonFormatter
from payhub.db.models import metadata
from payhub.db.session import Database

# More consecutive digits of a number than first six and last four can make together.
PARTIAL = 11


def digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def _spaced(digits: str) -> str:
    """The digits, allowing one space or dash between any two (as people write them)."""
    return "[ -]?".join(digits)


@dataclass
class Scanner:
    """Finds card and account numbers (whole, or any run of PARTIAL digits of one), CVVs
    standing alone, and secrets (anywhere, as written)."""

    numbers: list[str]
    cvvs: list[str]
    secrets: dict[str, str] = field(default_factory=dict)  # the secret → what it is
    checked: int = 0
    _numbers: re.Pattern[str] = field(init=False)
    _cvv_texts: list[re.Pattern[str]] = field(init=False)

    def __post_init__(self) -> None:
        windows = {
            d[i : i + PARTIAL]
            for d in map(digits, self.numbers)
            for i in range(len(d) - PARTIAL + 1)
        }
        # `(?!)` matches nothing: a scanner for secrets only has no numbers or CVVs.
        self._numbers = re.compile("|".join(_spaced(w) for w in sorted(windows)) or "(?!)")
        alone = "|".join(self.cvvs) or "(?!)"
        self._cvv_texts = [
            # key=value, key: value, 'key': 'value'
            re.compile(rf"[\w.-]+[\"']?\s*[:=]\s*[\"']?(?:{alone})(?![\w.])"),
            # a quoted value: "7391" or '7391'
            re.compile(rf"(?<![\w.])[\"'](?:{alone})[\"']"),
        ]

    def text(self, where: str, text: str) -> list[str]:
        self.checked += 1
        found = []
        if self._numbers.search(text):
            found.append(f"{where}: a card or account number")
        if any(p.search(text) for p in self._cvv_texts) or self._cvv_in_json(text):
            found.append(f"{where}: a CVV")
        found += [f"{where}: {what}" for secret, what in self.secrets.items() if secret in text]
        return found

    def value(self, where: str, value: Any) -> list[str]:
        """A database cell, as the driver returns it."""
        if isinstance(value, memoryview):
            value = value.tobytes()
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, (dict, list)):
            found = [f"{where}: a CVV"] if self._cvv_leaf(value) else []
            return found + self.text(where, json.dumps(value, ensure_ascii=False))
        if isinstance(value, int) and not isinstance(value, bool) and str(value) in self.cvvs:
            return [f"{where}: a CVV"]
        if isinstance(value, str) and value.strip() in self.cvvs:
            return [f"{where}: a CVV"]
        return self.text(where, str(value))

    def _cvv_in_json(self, text: str) -> bool:
        try:
            parsed = json.loads(text)
        except ValueError:
            return False
        return self._cvv_leaf(parsed)

    def _cvv_leaf(self, value: Any) -> bool:
        if isinstance(value, dict):
            return any(self._cvv_leaf(v) for v in value.values())
        if isinstance(value, list):
            return any(self._cvv_leaf(v) for v in value)
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return str(value) in self.cvvs
        if isinstance(value, str):
            # A string may hold JSON of its own (a logged body).
            return value.strip() in self.cvvs or (
                value[:1] in "{[" and value != "" and self._cvv_in_json(value)
            )
        return False


# ---------------------------------------------------------------------- what gets captured


def raw_record(record: logging.LogRecord) -> str:
    """A log record before any formatter touched it: message, extra fields, traceback."""
    entry: dict[str, Any] = {"logger": record.name}
    try:
        entry["msg"] = record.getMessage()
    except (TypeError, ValueError):
        entry["msg"] = f"{record.msg!r} % {record.args!r}"
    standard = set(vars(logging.makeLogRecord({})))
    entry |= {k: v for k, v in vars(record).items() if k not in standard}
    if record.exc_info:
        entry["exc"] = logging.Formatter().formatException(record.exc_info)
    return json.dumps(entry, default=repr, ensure_ascii=False)


@contextmanager
def every_log_line() -> Iterator[io.StringIO]:
    """Every logger at DEBUG, propagating to the root, whose JSON handler (the app's own,
    as `configure_logging` installed it) writes into the returned buffer."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]
    assert ours, "the app should have installed its JSON log handler on the root logger"
    loggers = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = [(lg, lg.level, lg.propagate, lg.disabled) for lg in loggers]
    root_level = root.level
    buffer = io.StringIO()
    streams = [(h, h.stream) for h in ours if isinstance(h, logging.StreamHandler)]
    levels = [(h, h.level) for h in ours]
    for lg in loggers:
        lg.setLevel(logging.NOTSET)
        lg.propagate, lg.disabled = True, False
    root.setLevel(logging.DEBUG)
    for handler, _ in streams:
        handler.setStream(buffer)
    for handler, _ in levels:
        handler.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        for handler, stream in streams:
            handler.setStream(stream)
        for handler, level in levels:
            handler.setLevel(level)
        root.setLevel(root_level)
        for lg, level, propagate, disabled in saved:
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled


class Responses:
    """Every answer a client received, through an httpx response hook."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, str]] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        self.bodies.append((f"{response.request.method} {response.request.url}", response.text))

    def watch(self, client: httpx.AsyncClient) -> httpx.AsyncClient:
        client.event_hooks = {**client.event_hooks, "response": [self]}
        return client


async def database_cells(
    db: Database, *, migrated_to_head: bool = True
) -> AsyncIterator[tuple[str, str, Any]]:
    """(table, column, value) for every cell of every table: the application's tables, the
    migrations' table, and any other table the database holds. A database left at an older
    migration (`migrated_to_head` False) is scanned for the tables it has."""
    async with db.engine.connect() as conn:
        present = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        expected = {*metadata.tables, "alembic_version"} if migrated_to_head else set()
        assert expected <= present
        for name in sorted(present | expected):
            result = await conn.exec_driver_sql(f'SELECT * FROM "{name}"')
            columns = list(result.keys())
            for row in result:
                for column, value in zip(columns, row, strict=True):
                    yield name, column, value
