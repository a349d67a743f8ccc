"""Test databases are real and built by the migrations.

`PAYHUB_TEST_DATABASE_URL` chooses the server: unset → SQLite; a PostgreSQL URL → a fresh
database `payhub_test_<pid>` on that server, created for the run and dropped after it.
SQLite tests each get a copy of a migrated template file; PostgreSQL tests share one
migrated database, emptied between tests.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from payhub.api.app import create_app
from payhub.auth import service as auth
from payhub.core.config import Settings
from payhub.db.migrate import upgrade
from payhub.db.session import Database
from payhub.routing.service import set_router

TEST_URL = os.environ.get("PAYHUB_TEST_DATABASE_URL", "")
POSTGRES = TEST_URL.startswith("postgresql")

requires_postgres = pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL")

TABLES = [
    "reconciliation_breaks",
    "reconciliation_runs",
    "settlement_settings",
    "settlement_entries",
    "channel_settlements",
    "split_covers",
    "split_lines",
    "split_batches",
    "payouts",
    "payees",
    "sanctions_hits",
    "sanctions_screenings",
    "sanctions_entries",
    "sanctions_list_versions",
    "audit_events",
    "audit_chain_head",
    "routing_rule_sets",
    "risk_rule_sets",
    "risk_decisions",
    "risk_case_events",
    "risk_cases",
    "risk_alerts",
    "risk_reports",
    "risk_monitor_cursor",
    "payment_fees",
    "fee_plan_versions",
    "fee_plans",
    "channel_cost_versions",
    "refunds",
    "payment_attempts",
    "payments",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
    "events",
    "ledger_holds",
    "ledger_entries",
    "ledger_balances",
    "ledger_journals",
    "ledger_accounts",
    "idempotency_keys",
    "request_nonces",
    "rate_buckets",
    "api_keys",
    "vault_cards",
    "vault_bank_accounts",
    "vault_data_keys",
    "customers",
    "merchants",
]


def _admin_url(url: str) -> str:
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


async def _recreate_pg(url: str) -> None:
    name = make_url(url).database
    engine = create_async_engine(_admin_url(url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()


async def _drop_pg(url: str) -> None:
    name = make_url(url).database
    engine = create_async_engine(_admin_url(url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for the whole run (for SQLite: the template file)."""
    if POSTGRES:
        url = (
            make_url(TEST_URL)
            .set(database=f"payhub_test_{os.getpid()}")
            .render_as_string(hide_password=False)
        )
        asyncio.run(_recreate_pg(url))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'template.db'}"

    async def migrate() -> None:
        db = Database(url, pool_size=2)
        await upgrade(db.engine)
        await db.dispose()

    asyncio.run(migrate())
    yield url
    if POSTGRES:
        asyncio.run(_drop_pg(url))


@pytest.fixture
async def db(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty, migrated database for one test."""
    if POSTGRES:
        database = Database(database_url, pool_size=20)
        async with database.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
        url = database_url
    else:
        template = Path(make_url(database_url).database or "")
        copy = tmp_path / "payhub.db"
        shutil.copyfile(template, copy)
        url = f"sqlite+aiosqlite:///{copy}"
        database = Database(url, pool_size=5)
    yield database
    await database.dispose()


@pytest.fixture
def settings(db: Database) -> Settings:
    # Rate limits off: tests send bursts a real client would not; the limits have tests
    # of their own.
    return Settings(
        database_url=db.url,
        demo_data=False,
        log_level="WARNING",
        rate_limit_read_per_s=0,
        rate_limit_write_per_s=0,
    )


@pytest.fixture
async def operator_key(db: Database) -> str:
    issued = await db.run_in_transaction(
        lambda s: auth.issue_key(s, name="tests", role="operator", scopes=auth.OPERATOR_SCOPES)
    )
    return issued.secret


@pytest.fixture
async def client(
    db: Database, settings: Settings, operator_key: str
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the real app, authenticated as the operator."""
    app = create_app(settings, database=db, run_jobs=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://payhub.test",
        headers={"Authorization": f"Bearer {operator_key}"},
    ) as http:
        yield http


@pytest.fixture
async def anonymous(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the real app with no API key."""
    app = create_app(settings, database=db, run_jobs=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://payhub.test"
    ) as http:
        yield http


@pytest.fixture
async def as_key(
    db: Database, settings: Settings
) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """Make HTTP clients that authenticate with a given key."""
    app = create_app(settings, database=db, run_jobs=False)
    opened: list[httpx.AsyncClient] = []

    def make(secret: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://payhub.test",
            headers={"Authorization": f"Bearer {secret}"},
        )
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


@pytest.fixture(autouse=True)
def fresh_router() -> Iterator[None]:
    """The router learns in memory per process: every test starts it from scratch."""
    set_router(None)
    yield
    set_router(None)


@pytest.fixture(autouse=True)
def fresh_risk_rules() -> Iterator[None]:
    """Parsed risk rule sets are kept per version (a version never changes in one
    database); every test's database numbers its versions from 1 again."""
    from payhub.risk.decisions import service as risk_decisions

    risk_decisions._parsed.clear()
    yield
    risk_decisions._parsed.clear()
