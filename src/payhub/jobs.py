"""The periodic job runner: in the API process for the embedded set-up, or on its own
(`payhub worker`). Every job is safe to run in several processes at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from payhub.audit import service as audit
from payhub.audit.tasks import seal_audit_log
from payhub.auth.tasks import purge_expired_nonces
from payhub.db.session import Database
from payhub.events.tasks import dispatch_events, send_webhooks
from payhub.idempotency.tasks import purge_expired_keys
from payhub.ledger.tasks import expire_due_holds
from payhub.payments.tasks import expire_lapsed_authorizations, resolve_processing_payments
from payhub.risk.monitoring.tasks import monitor_transactions
from payhub.risk.reports.tasks import generate_large_value_reports
from payhub.risk.sanctions.tasks import rescreen_after_list_change
from payhub.settlement.balances.tasks import (
    release_reserves,
    settle_channels_to_custody,
    settle_due_merchants,
)
from payhub.settlement.payouts.tasks import (
    check_payout_returns,
    dispatch_due_payouts,
    resolve_payouts,
)
from payhub.splits.tasks import run_split_batches
from payhub.vault.tasks import reencrypt_to_active_key

log = logging.getLogger("payhub.jobs")

Job = Callable[[Database], Awaitable[int]]

JOBS: dict[str, Job] = {
    "audit.seal": seal_audit_log,
    "auth.purge_nonces": purge_expired_nonces,
    "ledger.expire_holds": expire_due_holds,
    "idempotency.purge_expired": purge_expired_keys,
    "payments.resolve_processing": resolve_processing_payments,
    "payments.expire_authorizations": expire_lapsed_authorizations,
    "events.dispatch": dispatch_events,
    "events.send_webhooks": send_webhooks,
    "risk.monitor": monitor_transactions,
    "vault.reencrypt": reencrypt_to_active_key,
    "sanctions.rescreen": rescreen_after_list_change,
    "risk.large_value_reports": generate_large_value_reports,
    "settlement.settle_due": settle_due_merchants,
    "settlement.release_reserves": release_reserves,
    "settlement.channel_settlement": settle_channels_to_custody,
    "payouts.dispatch": dispatch_due_payouts,
    "payouts.resolve": resolve_payouts,
    "payouts.returns": check_payout_returns,
    "splits.run": run_split_batches,
}


async def run_once(db: Database) -> dict[str, int]:
    """Run every job once; a failing job is logged and does not stop the others."""
    done: dict[str, int] = {}
    with audit.acting_as(audit.SYSTEM):
        for name, job in JOBS.items():
            done[name] = await _run_job(name, job, db)
    return done


async def _run_job(name: str, job: Job, db: Database) -> int:
    try:
        return await job(db)
    except Exception:
        log.exception("job failed", extra={"job": name})
        return -1


async def run_forever(db: Database, interval: float) -> None:
    while True:
        await run_once(db)
        await asyncio.sleep(interval)
