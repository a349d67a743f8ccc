"""Running the real `payhub` console script in subprocesses, on a database of its own.

There is no `python -m payhub` (the package has no __main__), so the console script
installed next to the running interpreter is used.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES, TEST_URL, _drop_pg, _recreate_pg

PAYHUB = Path(sys.executable).parent / "payhub"


@contextmanager
def fresh_database(directory: Path) -> Iterator[str]:
    """An empty, unmigrated database: a new SQLite file, or a new PostgreSQL database that is
    dropped afterwards."""
    if POSTGRES:
        name = f"payhub_proc_{os.getpid()}_{secrets.token_hex(4)}"
        url = make_url(TEST_URL).set(database=name).render_as_string(hide_password=False)
        asyncio.run(_recreate_pg(url))
        try:
            yield url
        finally:
            asyncio.run(_drop_pg(url))
    else:
        yield f"sqlite+aiosqlite:///{directory / 'payhub.db'}"


def payhub_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a child: ours without any PAYHUB_* setting, plus the database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")}
    env.update(
        PAYHUB_DATABASE_URL=database_url,
        COLUMNS="200",  # rich wraps and truncates tables at 80 columns otherwise
        NO_COLOR="1",
        PYTHONIOENCODING="utf-8",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def run_payhub(
    *args: str, database_url: str, cwd: Path, timeout: float = 120, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PAYHUB), *args],
        cwd=cwd,  # no stray .env is read from the repository
        env=payhub_env(database_url, **extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def table_value(output: str, key: str) -> str | None:
    """The value cell of a two-column rich table row whose first cell is `key`."""
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line)]
        cells = [c for c in cells if c]
        if len(cells) >= 2 and cells[0] == key:
            return cells[1]
    return None


def table_rows(output: str) -> list[list[str]]:
    """The body rows of a rich table, as lists of cell texts."""
    rows = []
    for line in output.splitlines():
        if not line.strip().startswith("│"):
            continue
        rows.append([c.strip() for c in line.strip().strip("│").split("│")])
    return rows


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
