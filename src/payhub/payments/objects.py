"""The public shapes of payments, refunds and attempts, and the ids of their journals.

No shape carries a card number or a security code: a payment names its card by vault token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from payhub.core import clock
from payhub.payments.rows import AttemptRow, PaymentRow, RefundRow


def _ts(moment: datetime | None) -> str | None:
    return clock.to_rfc3339(moment) if moment is not None else None


def capture_journal_id(attempt_id: str) -> str:
    return f"cap_{attempt_id}"


def refund_journal_id(refund_id: str) -> str:
    return f"ref_{refund_id}"


def payment_object(row: PaymentRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "payment",
        "merchant": row.merchant_id,
        "customer": row.customer_id,
        "payment_method": row.payment_method,
        "amount": row.amount,
        "currency": row.currency,
        "amount_capturable": row.amount_capturable,
        "amount_captured": row.amount_captured,
        "amount_refunded": row.amount_refunded,
        "capture_method": row.capture_method,
        "status": row.status,
        "scene": row.scene,
        "description": row.description,
        "metadata": dict(row.metadata),
        "channel": row.channel_id,
        # The attempt whose channel answer is awaited (the change it asked for is not
        # reflected above until it settles); null when nothing is in flight.
        "pending_attempt": row.in_flight_attempt_id,
        "failure_code": row.failure_code,
        "failure_message": row.failure_message,
        "decision": dict(row.decision) if row.decision is not None else None,
        "authorized_at": _ts(row.authorized_at),
        "expires_at": _ts(row.expires_at),
        "created_at": _ts(row.created_at),
        "updated_at": _ts(row.updated_at),
    }


def refund_object(row: RefundRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "refund",
        "payment": row.payment_id,
        "merchant": row.merchant_id,
        "amount": row.amount,
        "currency": row.currency,
        "status": row.status,
        "reason": row.reason,
        "failure_code": row.failure_code,
        "created_at": _ts(row.created_at),
        "updated_at": _ts(row.updated_at),
    }


def attempt_object(row: AttemptRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "payment_attempt",
        "payment": row.payment_id,
        "kind": row.kind,
        "channel": row.channel_id,
        "request_id": row.request_id,
        "status": row.status,
        "raw_code": row.raw_code,
        "raw_message": row.raw_message,
        "catalogue_code": row.catalogue_code,
        "latency_ms": row.latency_ms,
        "amount": row.amount,
        "refund": row.refund_id,
        "created_at": _ts(row.created_at),
    }
