"""Shared helpers of the vault tests."""

from __future__ import annotations

import json
import random
import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.vault import service, testcards
from payhub.vault.service import CardView

MERCHANT = "mer_noodles"
OTHER_MERCHANT = "mer_dumplings"
CUSTOMER = "cus_alice"


def card(issuer: str = "ICBC", card_type: str = "debit", seed: int = 1) -> str:
    """A reproducible test card number of the shipped BIN table."""
    return testcards.test_card(issuer, card_type, rng=random.Random(seed))


async def bind(
    db: Database,
    pan: str,
    *,
    merchant_id: str = MERCHANT,
    customer_id: str | None = CUSTOMER,
    exp_month: int = 12,
    exp_year: int = 2028,
    holder_name: str | None = None,
) -> tuple[CardView, bool]:
    return await db.run_in_transaction(
        lambda s: service.bind_card(
            s,
            merchant_id=merchant_id,
            customer_id=customer_id,
            pan=pan,
            exp_month=exp_month,
            exp_year=exp_year,
            holder_name=holder_name,
        )
    )


async def count(session: AsyncSession, table: str) -> int:
    return int((await session.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one())


async def row_of(db: Database, table: str, token: str) -> dict[str, Any]:
    async with db.session() as s:
        found = await s.execute(text(f"SELECT * FROM {table} WHERE token = :t"), {"t": token})
        return dict(found.mappings().one())


def assert_no_card_data(text_: str, pan: str) -> None:
    """Nothing of the number beyond what masking allows; in practice: no run of 4+ digits
    that occurs in the number, and never the number itself (raw or normalised)."""
    digits = re.sub(r"\D", "", pan)
    assert digits not in text_
    for run in re.findall(r"\d{4,}", text_):
        assert run not in digits, (run, text_)


def error_texts(error: PayHubError) -> list[str]:
    """Every way an error reaches a person or a log."""
    return [
        str(error),
        repr(error),
        error.message("en"),
        error.message("zh"),
        json.dumps(error.to_body(request_id="req_x", language="en"), ensure_ascii=False),
        json.dumps(error.to_body(request_id="req_x", language="zh"), ensure_ascii=False),
    ]


async def reveal_for_channel(db: Database, token: str) -> str:
    """The card number as a channel adapter gets it: through a `Sql` unit, as the payment
    path calls the vault."""
    return (await db.transact(lambda sql: service.reveal_card(sql, token))).pan


async def every_table_as_text(db: Database) -> str:
    """Every row of every table, printed (binary columns as hex), for leak scans."""
    from payhub.db.models import metadata

    out = []
    async with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in (await conn.execute(table.select())).mappings():
                shown = {k: v.hex() if isinstance(v, bytes) else v for k, v in row.items()}
                out.append(f"{table.name} {shown!r}")
    return "\n".join(out)
