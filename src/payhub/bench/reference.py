"""The references the benchmarks measure PayHub against, in the same run and at the same
client count: pgbench's TPC-B-like bank transfer on PostgreSQL, and the same transaction
written directly against the stdlib sqlite3 driver on SQLite."""

from __future__ import annotations

import os
import random
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

PGBENCH_NAME = "pgbench tpcb-like"
SQLITE_NAME = "sqlite3 tpcb-like (stdlib driver, 1 client)"


def pgbench_tps(url: str, clients: int, seconds: float) -> float:
    """tpcb-like TPS of pgbench on the same server, in a database of its own."""
    if shutil.which("pgbench") is None:
        raise RuntimeError("pgbench is not installed")
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    conn = [
        "-h",
        parsed.host or "127.0.0.1",
        "-p",
        str(parsed.port or 5432),
        "-U",
        parsed.username or "postgres",
    ]
    dbname = "payhub_pgbench"
    subprocess.run(
        [
            "psql",
            *conn,
            "-d",
            parsed.database or "postgres",
            "-qc",
            f"DROP DATABASE IF EXISTS {dbname}",
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    subprocess.run(
        ["psql", *conn, "-d", parsed.database or "postgres", "-qc", f"CREATE DATABASE {dbname}"],
        check=True,
        env=env,
        capture_output=True,
    )
    # Scale ≥ clients, as pgbench advises, so clients do not all queue on one branch row.
    subprocess.run(
        ["pgbench", *conn, "-i", "-q", "-s", str(max(clients, 1)), dbname],
        check=True,
        env=env,
        capture_output=True,
    )
    done = subprocess.run(
        [
            "pgbench",
            *conn,
            "-b",
            "tpcb-like",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(int(seconds)),
            dbname,
        ],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    if not match:
        raise RuntimeError(f"cannot read pgbench output: {done.stdout[-500:]}")
    return float(match.group(1))


def sqlite_tpcb_tps(clients: int, seconds: float) -> float:
    """The tpcb-like transaction in plain sqlite3: the floor of what any code can do there."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tpcb.db"
        con = sqlite3.connect(path, isolation_level=None)
        con.executescript(
            """
            PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
            CREATE TABLE branches(bid INTEGER PRIMARY KEY, bbalance INTEGER);
            CREATE TABLE tellers(tid INTEGER PRIMARY KEY, bid INTEGER, tbalance INTEGER);
            CREATE TABLE accounts(aid INTEGER PRIMARY KEY, bid INTEGER, abalance INTEGER);
            CREATE TABLE history(tid INTEGER, bid INTEGER, aid INTEGER, delta INTEGER,
                                 mtime TEXT);
            """
        )
        scale = max(clients, 1)
        con.executemany("INSERT INTO branches VALUES (?, 0)", [(b,) for b in range(scale)])
        con.executemany(
            "INSERT INTO tellers VALUES (?, ?, 0)", [(t, t // 10) for t in range(10 * scale)]
        )
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO accounts VALUES (?, ?, 0)",
            [(a, a // 100000) for a in range(100000 * scale)],
        )
        con.execute("COMMIT")
        rng = random.Random(1)
        done = 0
        deadline = time.perf_counter() + seconds
        began = time.perf_counter()
        while time.perf_counter() < deadline:
            aid = rng.randrange(100000 * scale)
            tid = rng.randrange(10 * scale)
            bid = rng.randrange(scale)
            delta = rng.randint(-5000, 5000)
            con.execute("BEGIN IMMEDIATE")
            con.execute("UPDATE accounts SET abalance = abalance + ? WHERE aid = ?", (delta, aid))
            con.execute("SELECT abalance FROM accounts WHERE aid = ?", (aid,)).fetchone()
            con.execute("UPDATE tellers SET tbalance = tbalance + ? WHERE tid = ?", (delta, tid))
            con.execute("UPDATE branches SET bbalance = bbalance + ? WHERE bid = ?", (delta, bid))
            con.execute(
                "INSERT INTO history VALUES (?, ?, ?, ?, datetime('now'))",
                (tid, bid, aid, delta),
            )
            con.execute("COMMIT")
            done += 1
        elapsed = time.perf_counter() - began
        con.close()
        return done / elapsed
