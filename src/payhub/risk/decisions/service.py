"""Deciding, recording and reading risk decisions; publishing and activating rule sets.

`decide` runs in the payment's confirm transaction, before any channel is called: it reads
the active rule set and the history (two statements), evaluates, and writes the decision
row with the unit's other writes (for a payment sent to review, its alert too). Every
payment that reaches a channel, or is declined before one, has exactly one decision (the
row is unique per payment).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.core import clock
from payhub.core.config import get_settings
from payhub.core.ids import new_id
from payhub.db.sql import Row, Sql, as_sql, table_of
from payhub.db.versions import VersionedTable
from payhub.merchants import service as merchants
from payhub.risk.cases import alerts
from payhub.risk.decisions.features import (
    Subject,
    Thresholds,
    Value,
    derive,
    history_columns,
    windows,
)
from payhub.risk.decisions.models import RiskDecision, RiskRuleSet
from payhub.risk.decisions.rules import BUILTIN, RuleSet, parse_rule_set, rule_set_data
from payhub.risk.sanctions import hits as sanctions_hits

_SETS = table_of(RiskRuleSet)
_DECISIONS = table_of(RiskDecision)
_ACTIVE = select(_SETS.c.version, _SETS.c.definition).where(_SETS.c.active.is_(True))
# One round trip for a decision: the active rule set, the history, the customer's home,
# the parties' standing in sanctions screening.
_HISTORY_COLUMNS, _HISTORY_FROM = history_columns()
_DECIDE = select(
    select(_SETS.c.version)
    .where(_SETS.c.active.is_(True))
    .scalar_subquery()
    .label("rules_version"),
    select(_SETS.c.definition)
    .where(_SETS.c.active.is_(True))
    .scalar_subquery()
    .label("rules_definition"),
    merchants.home_region_subquery("customer").label("home_region"),
    sanctions_hits.standing_subquery("customer", "customer").label("customer_sanctions"),
    sanctions_hits.standing_subquery("merchant", "merchant").label("merchant_sanctions"),
    *_HISTORY_COLUMNS,
).select_from(_HISTORY_FROM)
_INSERT_DECISION = insert(_DECISIONS)

# Parsed rule sets by version, with the definition they were parsed from.
_parsed: dict[int, tuple[Any, RuleSet]] = {}


def thresholds() -> Thresholds:
    settings = get_settings()
    return Thresholds(
        small={"CNY": settings.risk_small_amount_cny},
        reporting={"CNY": tuple(settings.risk_reporting_thresholds_cny)},
        near_share=settings.risk_near_threshold_share,
    )


# ------------------------------------------------------------------------------ rule sets


@dataclass(frozen=True, slots=True)
class RuleSetView:
    version: int
    definition: dict[str, Any]
    active: bool
    note: str | None
    created_by: str
    created_at: datetime | None


def builtin_view(*, active: bool = True) -> RuleSetView:
    return RuleSetView(0, rule_set_data(BUILTIN), active, "shipped default", "payhub", None)


def _view(row: RiskRuleSet) -> RuleSetView:
    return RuleSetView(
        row.version, dict(row.definition), row.active, row.note, row.created_by, row.created_at
    )


async def active_rule_set(tx: AsyncSession | Sql) -> RuleSet:
    """The active rule set (the built-in one when none was published)."""
    row = await (await as_sql(tx)).one(_ACTIVE)
    if row is None:
        return BUILTIN
    return _rule_set(row["version"], row["definition"])


def _rule_set(version: int | None, definition: Any) -> RuleSet:
    if version is None:
        return BUILTIN
    # Keyed by version but checked against the stored definition: a process may serve
    # more than one database (their version 1s differ), and comparing is far cheaper
    # than parsing.
    cached = _parsed.get(int(version))
    if cached is not None and cached[0] == definition:
        return cached[1]
    parsed = parse_rule_set(definition, version=int(version))
    _parsed[int(version)] = (definition, parsed)
    return parsed


_VERSIONS = VersionedTable(
    RiskRuleSet, name="risk rules", not_found="risk_rules_not_found", created_by_max=80
)


async def active_view(session: AsyncSession) -> RuleSetView:
    row = await _VERSIONS.active(session)
    return _view(row) if row is not None else builtin_view()


async def list_versions(session: AsyncSession) -> list[RuleSetView]:
    rows = [_view(r) for r in await _VERSIONS.newest_first(session)]
    return [*rows, builtin_view(active=not any(r.active for r in rows))]


async def get_version(session: AsyncSession, version: int) -> RuleSetView:
    if version == 0:
        return builtin_view(active=(await active_rule_set(session)).version == 0)
    return _view(await _VERSIONS.get(session, version))


async def publish(
    session: AsyncSession,
    definition: Any,
    *,
    created_by: str,
    note: str | None = None,
    activate: bool = True,
) -> RuleSetView:
    """Write a rule set as the next version (live at once unless `activate` is False: then
    it waits, for a dry run, until activated)."""
    rule_set = parse_rule_set(definition)
    row = await _VERSIONS.publish(
        session,
        {"definition": rule_set_data(rule_set)},
        created_by=created_by,
        note=note,
        activate=activate,
    )
    await audit.record(
        session,
        "risk_rules.published",
        target_type="risk_rules",
        target_id=str(row.version),
        details={"active": activate, "note": note, "rules": [r.id for r in rule_set.rules]},
    )
    return _view(row)


async def activate(session: AsyncSession, version: int) -> RuleSetView:
    """Make a version the active one: a staged version going live, or a rollback (version
    0 goes back to the built-in rules)."""
    if version == 0:
        await _VERSIONS.deactivate_all(session)
        await audit.record(session, "risk_rules.activated", target_type="risk_rules", target_id="0")
        return builtin_view()
    row, changed = await _VERSIONS.activate(session, version)
    if changed:
        await audit.record(
            session, "risk_rules.activated", target_type="risk_rules", target_id=str(version)
        )
    return _view(row)


# ------------------------------------------------------------------------------ decisions


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    outcome: str
    score: int
    fired: list[dict[str, Any]]
    rules_version: int
    features: dict[str, Value]
    took_us: int

    def summary(self) -> dict[str, Any]:
        """What the payment's recorded decision shows of it."""
        return {
            "decision": self.id,
            "outcome": self.outcome,
            "score": self.score,
            "fired": self.fired,
            "rules_version": self.rules_version,
        }


async def decide(sql: Sql, payment_id: str, subject: Subject) -> Decision:
    """Score a payment and record the decision with the caller's other writes."""
    started = time.perf_counter()
    now = clock.now()
    s = subject.signals
    row = await sql.one(
        _DECIDE,
        customer=subject.customer_id,
        merchant=subject.merchant_id,
        card=subject.card_fingerprint,
        device=s.device_id,
        ip=s.ip,
        currency=subject.currency,
        **windows(now),
    )
    assert row is not None  # a SELECT of scalar subqueries always has its one row
    rule_set = _rule_set(row["rules_version"], row["rules_definition"])
    features = derive(subject, thresholds(), now, row)
    verdict = rule_set.evaluate(features)
    took_us = int((time.perf_counter() - started) * 1_000_000)
    decision = Decision(
        new_id("rsk"),
        verdict.outcome,
        verdict.score,
        verdict.fired,
        rule_set.version,
        features,
        took_us,
    )
    await sql.defer(
        _INSERT_DECISION,
        id=decision.id,
        payment_id=payment_id,
        merchant_id=subject.merchant_id,
        customer_id=subject.customer_id,
        card_fingerprint=subject.card_fingerprint,
        device_id=s.device_id,
        ip=s.ip,
        latitude=s.latitude,
        longitude=s.longitude,
        amount=subject.amount,
        currency=subject.currency,
        small=bool(features["amount.small"]),
        near_threshold=bool(features["amount.near_threshold"]),
        outcome=decision.outcome,
        score=decision.score,
        fired=decision.fired,
        features=features,
        rules_version=decision.rules_version,
        decided_at=now,
        took_us=took_us,
    )
    if decision.outcome == "review":
        # The compliance team sees it as an alert: written with the decision, same unit.
        subject_type: alerts.SubjectType = "merchant"
        subject_id = subject.merchant_id
        if subject.customer_id is not None:
            subject_type, subject_id = "customer", subject.customer_id
        elif subject.card_fingerprint is not None:
            subject_type, subject_id = "card", subject.card_fingerprint
        await alerts.defer_inline_alert(
            sql,
            payment_id=payment_id,
            decision_id=decision.id,
            subject_type=subject_type,
            subject_id=subject_id,
            score=decision.score,
            fired=decision.fired,
            rules_version=decision.rules_version,
        )
    return decision


@dataclass(frozen=True, slots=True)
class DecisionView:
    id: str
    payment_id: str
    merchant_id: str
    customer_id: str | None
    outcome: str
    score: int
    fired: list[dict[str, Any]]
    features: dict[str, Any]
    rules_version: int
    decided_at: datetime
    took_us: int

    @classmethod
    def of(cls, row: Row) -> DecisionView:
        return cls(
            row["id"],
            row["payment_id"],
            row["merchant_id"],
            row["customer_id"],
            row["outcome"],
            row["score"],
            list(row["fired"]),
            dict(row["features"]),
            row["rules_version"],
            row["decided_at"],
            row["took_us"],
        )


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    outcome: str | None = None
    merchant_id: str | None = None
    customer_id: str | None = None
    rule: str | None = None  # decisions where this rule fired
    decided_from: datetime | None = None
    decided_to: datetime | None = None


async def list_decisions(
    tx: AsyncSession | Sql, filters: DecisionFilter, *, limit: int, starting_after: str | None
) -> tuple[list[DecisionView], bool]:
    """Newest first; with `rule`, those where the rule fired. The fired list is JSON: the
    database keeps only rows whose text holds the rule's id (quoted), so a rarely fired
    rule does not bring every row back here, and each is confirmed on the parsed list."""
    query = select(_DECISIONS).order_by(_DECISIONS.c.id.desc())
    for column, value in (
        (_DECISIONS.c.outcome, filters.outcome),
        (_DECISIONS.c.merchant_id, filters.merchant_id),
        (_DECISIONS.c.customer_id, filters.customer_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.decided_from is not None:
        query = query.where(_DECISIONS.c.decided_at >= filters.decided_from)
    if filters.decided_to is not None:
        query = query.where(_DECISIONS.c.decided_at < filters.decided_to)
    if starting_after is not None:
        query = query.where(_DECISIONS.c.id < starting_after)
    sql = await as_sql(tx)
    if filters.rule is None:
        rows = await sql.all_once(query.limit(limit + 1))
        views = [DecisionView.of(r) for r in rows]
        return views[:limit], len(views) > limit
    # Rule ids are ASCII identifiers (RULE_ID): their quoted form is the same in the JSON
    # text on both databases.
    query = query.where(
        cast(_DECISIONS.c.fired, Text).contains(f'"{filters.rule}"', autoescape=True)
    )
    found: list[DecisionView] = []
    cursor = starting_after
    while len(found) <= limit:
        page_query = query if cursor is None else query.where(_DECISIONS.c.id < cursor)
        rows = await sql.all_once(page_query.limit(500))
        if not rows:
            break
        for row in rows:
            if any(f.get("rule") == filters.rule for f in row["fired"]):
                found.append(DecisionView.of(row))
        cursor = rows[-1]["id"]
    return found[:limit], len(found) > limit


_BY_PAYMENT = select(_DECISIONS).where(_DECISIONS.c.payment_id == bindparam("payment_id"))


async def decision_for_payment(tx: AsyncSession | Sql, payment_id: str) -> DecisionView | None:
    row = await (await as_sql(tx)).one(_BY_PAYMENT, payment_id=payment_id)
    return DecisionView.of(row) if row is not None else None


@dataclass(frozen=True, slots=True)
class Coverage:
    payments: int  # payments that went past confirmation in the period
    decided: int  # of them, those with a recorded decision
    outcomes: dict[str, int]

    @property
    def share(self) -> float:
        return 1.0 if self.payments == 0 else self.decided / self.payments


async def coverage(
    session: AsyncSession, *, created_from: datetime | None, created_to: datetime | None
) -> Coverage:
    """Decisions ÷ payments confirmed (every status past `requires_confirmation`), for
    payments created in the period."""
    from payhub.payments.service import confirmed_payment_ids

    ids = confirmed_payment_ids(created_from, created_to).subquery()
    payments = (await session.execute(select(func.count()).select_from(ids))).scalar_one()
    by_outcome = (
        await session.execute(
            select(RiskDecision.outcome, func.count())
            .join(ids, ids.c.id == RiskDecision.payment_id)
            .group_by(RiskDecision.outcome)
        )
    ).all()
    outcomes = {str(o): int(n) for o, n in by_outcome}
    return Coverage(int(payments), sum(outcomes.values()), outcomes)
