"""Money leaving the platform, as edges of the monitoring graph: payouts and split batches.

- `payout.paid`: the merchant → its bank account, as `ba:<the account's vault
  fingerprint>` (the same account bound by several merchants is one node; the fingerprint
  is a keyed hash, never the number). Kind `payout`, or `split_payout` for a split line
  paid on to the receiver's bank (the receiver did not choose it). A withdrawal carries the
  payee's daily limit and the real-time rail's per-payout limit in force, for the
  structuring detector; a part of a withdrawal the platform split over the real-time rail
  carries no instant limit (its amount is the platform's choice, not the merchant's).
- `payout.returned`: the bank account → the merchant (`<payout>:returned`).
- `split_batch.created`: one edge per line, the leader → the receiver, with when the
  receiver's payee was bound and the batch's net collected.

The payouts and splits modules are read through their services only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core.errors import PayHubError
from payhub.db.sql import Sql
from payhub.payments import channels
from payhub.risk.monitoring.graph import Transaction
from payhub.settlement.payouts import service as payouts
from payhub.settlement.payouts.config import get_config
from payhub.splits import service as splits
from payhub.vault import service as vault

OUTFLOW_EVENTS = ("payout.paid", "payout.returned", "split_batch.created")


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def instant_limit() -> int | None:
    """The real-time rail's per-payout limit in force: the configured one, else the rail's
    own maximum, whichever is lower (as the rail choice reads it)."""
    config = get_config()
    adapter = channels.get_channels().get(config.realtime_rail)
    limits = [
        v
        for v in (config.realtime_limit, adapter.info.max_amount if adapter else None)
        if v is not None
    ]
    return min(limits) if limits else None


async def _payee(session: AsyncSession, payee_id: str) -> tuple[str, datetime | None, Any]:
    """(graph node of its bank account, when it was bound, the payee row or None)."""
    try:
        payee = await payouts.get_payee(session, payee_id, merchant_id=None)
        account = await vault.get_bank_account(session, payee.bank_account, merchant_id=None)
    except PayHubError:
        return f"payee:{payee_id}", None, None  # gone from the vault: still one node
    return f"ba:{account.fingerprint}", _utc(payee.created_at), payee


async def _payout_edge(
    session: AsyncSession, type: str, data: dict[str, Any], at: datetime
) -> Transaction | None:
    if not data.get("id") or not data.get("payee") or not data.get("amount"):
        return None
    account, bound_at, payee = await _payee(session, str(data["payee"]))
    merchant = str(data["merchant"])
    if type == "payout.returned":
        return Transaction(
            id=f"{data['id']}:returned",
            at=at,
            source=account,
            target=merchant,
            amount=int(data["amount"]),
            currency=str(data["currency"]),
            kind="payout_return",
            channel=data.get("rail"),
        )
    split = data.get("split_batch") is not None
    daily = None
    if not split:
        own = payee.daily_limit if payee is not None else None
        daily = own if own is not None else get_config().daily_limit
    return Transaction(
        id=str(data["id"]),
        at=at,
        source=merchant,
        target=account,
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        kind="split_payout" if split else "payout",
        channel=data.get("rail"),
        bound_at=bound_at,
        daily_limit=daily,
        instant_limit=None if split or data.get("group") else instant_limit(),
    )


async def _split_edges(
    session: AsyncSession, data: dict[str, Any], at: datetime
) -> list[Transaction]:
    batch_id = data.get("id")
    if not batch_id:
        return []
    edges = []
    lines = await splits.get_lines(session, str(batch_id))
    # One read for every receiver's binding time: a batch may have thousands of lines.
    bound = await payouts.payees_bound_at(session, [line.payee_id for line in lines])
    for line in lines:
        when = bound.get(line.payee_id)
        bound_at = _utc(when) if when is not None else None
        edges.append(
            Transaction(
                id=line.id,
                at=at,
                source=str(data["merchant"]),
                target=line.receiver_merchant_id,
                amount=line.amount,
                currency=str(data["currency"]),
                kind="split",
                bound_at=bound_at,
                batch_total=int(data.get("net_collected") or 0),
            )
        )
    return edges


async def outflow_edges(
    sql: Sql, type: str, data: dict[str, Any], at: datetime
) -> list[Transaction]:
    """The edges of a payout or split-batch event (none for one that moved nothing)."""
    session = sql.session
    assert session is not None, "outflow events are read in an ORM session's transaction"
    if type == "split_batch.created":
        return await _split_edges(session, data, at)
    edge = await _payout_edge(session, type, data, at)
    return [] if edge is None else [edge]
