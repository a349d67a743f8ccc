"""Apply the Alembic migrations: the only way PayHub's schema is made."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # '%' must be escaped for configparser interpolation.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database behind `engine` to `revision`; a no-op when it is already there."""
    await _run(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _run(engine, command.downgrade, revision)


async def _run(engine: AsyncEngine, step: Callable[[Config, str], None], revision: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        step(config, revision)

    if engine.dialect.name != "sqlite":
        async with engine.begin() as conn:
            await conn.run_sync(run)
        return
    async with engine.connect() as conn:
        await conn.run_sync(lambda c: _without_foreign_keys(c, run))


def _without_foreign_keys(connection: Connection, run: Callable[[Connection], None]) -> None:
    """Run the migrations with SQLite's foreign keys off, and check them before committing.

    SQLite changes a table by copying it and dropping the original; dropping a table other
    tables refer to would count their rows as violations, and the copy taking its place does
    not uncount them. The pragma only changes outside a transaction, so it goes to the
    driver before SQLAlchemy begins one."""
    raw = connection.connection

    def pragma(on: bool) -> None:
        cursor = raw.cursor()
        cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
        cursor.close()

    pragma(False)
    try:
        with connection.begin():
            run(connection)
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"the migration left rows with dangling references: {broken}")
    finally:
        pragma(True)
