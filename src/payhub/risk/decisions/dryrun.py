"""Dry runs: recorded decisions replayed through a draft rule set before it goes live.

Each decision row keeps the features the rules saw, so a replay is the draft's verdict on
exactly the payments that happened — no history is recomputed. A feature the catalogue
gained after a decision was recorded is unknown (None) for it. Changes to the amount lines
in configuration are not replayed: they shape the features themselves.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.db.sql import as_sql, table_of
from payhub.risk.decisions.models import RiskDecision
from payhub.risk.decisions.rules import RuleSet

_DECISIONS = table_of(RiskDecision)
MAX_REPLAYED = 50_000
SHOWN = 100  # changed decisions listed in full


@dataclass(frozen=True, slots=True)
class Change:
    payment_id: str
    decided_at: datetime
    before: str
    after: str
    score_before: int
    score_after: int
    fired_after: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class DryRun:
    replayed: int
    # "approve→review": n, for every pair that occurred (unchanged pairs included)
    transitions: dict[str, int]
    changed: int
    changes: list[Change]  # the newest `SHOWN`
    fired: dict[str, int]  # how often each draft rule fired


async def dry_run(
    session: AsyncSession, draft: RuleSet, *, limit: int, since: datetime | None
) -> DryRun:
    """The draft's verdicts on the newest `limit` decisions (at most `MAX_REPLAYED`)."""
    query = select(
        _DECISIONS.c.payment_id,
        _DECISIONS.c.decided_at,
        _DECISIONS.c.outcome,
        _DECISIONS.c.score,
        _DECISIONS.c.features,
    ).order_by(_DECISIONS.c.decided_at.desc(), _DECISIONS.c.id.desc())
    if since is not None:
        query = query.where(_DECISIONS.c.decided_at >= since)
    rows = await (await as_sql(session)).all_once(query.limit(min(limit, MAX_REPLAYED)))
    transitions: Counter[str] = Counter()
    fired: Counter[str] = Counter({rule.id: 0 for rule in draft.rules})
    changes: list[Change] = []
    changed = 0
    for row in rows:
        verdict = draft.evaluate(row["features"])
        transitions[f"{row['outcome']}→{verdict.outcome}"] += 1
        fired.update(f["rule"] for f in verdict.fired)
        if verdict.outcome != row["outcome"]:
            changed += 1
            if len(changes) < SHOWN:
                changes.append(
                    Change(
                        row["payment_id"],
                        row["decided_at"],
                        row["outcome"],
                        verdict.outcome,
                        row["score"],
                        verdict.score,
                        verdict.fired,
                    )
                )
    return DryRun(len(rows), dict(transitions), changed, changes, dict(fired))
