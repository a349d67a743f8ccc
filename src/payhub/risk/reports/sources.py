"""Where report rows come from: PayHub's money movements as flows, and flows as rows with
their customers' (masked) identities and their counterparties' names.

Payments and refunds are the flows PayHub has today (a card payment: a personal customer's
money out; its refund: money in). Merchant payouts join as non-personal transfers
(`large_value.payout_flow`) when payouts are recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.db.sql import Sql
from payhub.merchants import service as merchants
from payhub.payments import movements
from payhub.risk.reports.large_value import Flow, card_flow
from payhub.risk.reports.rows import ReportRow, mask_name, mask_phone


def flow_of(movement: movements.Movement) -> Flow:
    # A payment without a named customer is reported under its card's vault token.
    customer = movement.customer_id or f"card:{movement.payment_method}"
    return card_flow(
        movement_id=movement.id,
        transaction_id=movement.transaction_id,
        kind="refund" if movement.kind == "refund" else "payment",
        customer=customer,
        merchant_id=movement.merchant_id,
        scene=movement.scene,
        amount=movement.amount,
        currency=movement.currency,
        at=movement.at,
    )


async def flows_between(sql: Sql, start: datetime, end: datetime) -> list[Flow]:
    return [flow_of(m) async for m in movements.moved_between(sql, start, end)]


async def flows_of(sql: Sql, transaction_ids: Iterable[str]) -> list[Flow]:
    out: list[Flow] = []
    for transaction_id in transaction_ids:
        out.extend(flow_of(m) for m in await movements.moved_for(sql, transaction_id))
    return out


async def rows_for(sql: Sql, reported: list[tuple[Flow, int | None]]) -> list[ReportRow]:
    """Rows for the flows (each with its day total, if any), identities looked up once per
    customer and counterparty."""
    people: dict[str, tuple[str, str]] = {}
    parties: dict[str, str] = {}
    rows = []
    for flow, total in reported:
        if flow.customer not in people:
            people[flow.customer] = await _person(sql, flow)
        if flow.counterparty_id not in parties:
            parties[flow.counterparty_id] = await _party(sql, flow)
        name, phone = people[flow.customer]
        rows.append(
            ReportRow(
                customer_id=flow.customer,
                customer_type=flow.customer_type,
                customer_name=name,
                customer_phone=phone,
                category=flow.category,
                direction=flow.direction,
                transaction_id=flow.transaction_id,
                movement_id=flow.id,
                time=clock.to_rfc3339(flow.at),
                amount=flow.amount,
                currency=flow.currency,
                counterparty_type=flow.counterparty_type,
                counterparty_id=flow.counterparty_id,
                counterparty_name=parties[flow.counterparty_id],
                day_total=total,
            )
        )
    return rows


async def _person(sql: Sql, flow: Flow) -> tuple[str, str]:
    try:
        if flow.customer_type == "personal" and flow.customer.startswith("cus_"):
            found = await merchants.get_customer(sql, flow.customer, merchant_id=None)
            return mask_name(found.name), mask_phone(found.phone)
        if flow.customer_type == "non_personal":
            merchant = await merchants.get_merchant(sql, flow.customer)
            return merchant.legal_name or merchant.name, ""
    except PayHubError:
        pass  # removed since: the id alone identifies them
    return "", ""


async def _party(sql: Sql, flow: Flow) -> str:
    if flow.counterparty_type != "merchant":
        return ""
    try:
        merchant = await merchants.get_merchant(sql, flow.counterparty_id)
    except PayHubError:
        return ""
    return merchant.legal_name or merchant.name
