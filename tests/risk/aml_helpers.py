"""Builders for the AML tests: alerts raised through the service, and money movements
written as rows at chosen times and amounts (the channels cap amounts far below the
reporting thresholds, and the thresholds are what is tested)."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from payhub.core.ids import new_id
from payhub.db.session import Database
from payhub.db.sql import Sql, table_of
from payhub.merchants import service as merchants
from payhub.payments.models import Payment, PaymentAttempt, Refund
from payhub.risk.cases import alerts
from payhub.vault import testcards

# A test card number (Luhn-valid): it must never reach a report.
PAN = testcards.test_card("ICBC", "debit", rng=random.Random(7))


async def raise_alert(db: Database, **fields: Any) -> alerts.AlertView:
    values: dict[str, Any] = {
        "source": "monitoring",
        "typology": "fan_in",
        "subject_type": "customer",
        "subject_id": "cus_someone",
        "score": 70,
        "explanation": "Many senders to one account within an hour.",
        "transaction_ids": [],
        "evidence": {"nodes": ["a", "b"], "edges": [["a", "b"]]},
        **fields,
    }
    raised: alerts.AlertView = await db.transact(lambda sql: alerts.raise_alert(sql, **values))
    return raised


class Ledger:
    """A merchant and its customers, and payments and refunds written straight as rows."""

    def __init__(self, db: Database, merchant_id: str) -> None:
        self.db = db
        self.merchant_id = merchant_id

    @classmethod
    async def open(cls, db: Database, name: str = "Noodle Shop") -> Ledger:
        made = await db.run_in_transaction(
            lambda s: merchants.create_merchant(s, merchants.MerchantSpec(name=name))
        )
        return cls(db, made.id)

    async def customer(self, name: str = "王小明", phone: str | None = "+8613812345678") -> str:
        made = await self.db.run_in_transaction(
            lambda s: merchants.create_customer(
                s, merchant_id=self.merchant_id, name=name, phone=phone
            )
        )
        return made.id

    async def pay(
        self,
        customer: str | None,
        amount: int,
        at: datetime,
        *,
        scene: str = "local_services",
        currency: str = "CNY",
        refund: int | None = None,
        refund_at: datetime | None = None,
    ) -> tuple[str, str | None]:
        """A captured payment (a sale approved at `at`); with `refund`, refunded at
        `refund_at`. Its id and the refund's."""
        payment_id, refund_id = new_id("pay"), new_id("re") if refund else None

        async def write(sql: Sql) -> None:
            await sql.run(
                insert(table_of(Payment)),
                id=payment_id,
                merchant_id=self.merchant_id,
                customer_id=customer,
                payment_method=f"card_{payment_id[4:]}",
                amount=amount,
                currency=currency,
                amount_capturable=0,
                amount_captured=amount,
                amount_refunded=refund or 0,
                capture_method="automatic",
                status="succeeded",
                scene=scene,
                description=None,
                metadata={},
                channel_id="partner_bank",
                authorization_ref=None,
                failure_code=None,
                failure_message=None,
                authorized_at=at,
                expires_at=None,
                in_flight_attempt_id=None,
                decision=None,
                created_at=at,
                updated_at=at,
            )
            await _attempt(sql, payment_id, "sale", amount, at)
            if refund_id is not None:
                moment = refund_at or at
                await sql.run(
                    insert(table_of(Refund)),
                    id=refund_id,
                    payment_id=payment_id,
                    merchant_id=self.merchant_id,
                    amount=refund,
                    currency=currency,
                    status="succeeded",
                    reason=None,
                    failure_code=None,
                    created_at=moment,
                    updated_at=moment,
                )
                await _attempt(sql, payment_id, "refund", refund, moment, refund_id=refund_id)

        await self.db.transact(write)
        return payment_id, refund_id


async def _attempt(
    sql: Sql, payment_id: str, kind: str, amount: int, at: datetime, refund_id: str | None = None
) -> None:
    await sql.run(
        insert(table_of(PaymentAttempt)),
        id=new_id("att"),
        payment_id=payment_id,
        kind=kind,
        channel_id="partner_bank",
        request_id=new_id("req"),
        status="approved",
        raw_code="00",
        raw_message=None,
        catalogue_code=None,
        latency_ms=50,
        amount=amount,
        refund_id=refund_id,
        created_at=at,
    )
