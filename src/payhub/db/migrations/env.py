"""Alembic environment: runs on a connection handed over by `payhub.db.migrate`, or on the
URL from alembic's own configuration when the `alembic` command is used directly."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from payhub.db.engine import make_engine
from payhub.db.models import metadata

config = context.config
target_metadata = metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_with_url(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    async with engine.begin() as conn:
        await conn.run_sync(run_on)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    from payhub.core.config import get_settings

    asyncio.run(
        run_with_url(config.get_main_option("sqlalchemy.url") or get_settings().database_url)
    )
