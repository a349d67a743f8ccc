"""Operator routing rules as data: validated, versioned, activated and rolled back.

A rule set is a list of rules (see `payhub.routing.engine.Rule`); every change writes a new
version, and exactly one version is active. With no version written yet, the shipped
default applies (partner-bank cards try the in-house channel first)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.core.errors import PayHubError
from payhub.db.sql import Sql, as_sql, table_of
from payhub.db.versions import VersionedTable
from payhub.routing.engine import DEFAULT_RULES, Conditions, Rule, RuleSet
from payhub.routing.models import RoutingRuleSet

ACTIONS = ("prefer", "split", "exclude")
_CONDITION_SETS = ("issuers", "card_types", "scenes", "merchants")


@dataclass(frozen=True, slots=True)
class RuleSetView:
    version: int
    rules: list[dict[str, Any]]
    active: bool
    note: str | None
    created_by: str
    created_at: datetime | None


def rule_to_data(rule: Rule) -> dict[str, Any]:
    when: dict[str, Any] = {}
    for name in _CONDITION_SETS:
        value = getattr(rule.when, name)
        if value is not None:
            when[name] = sorted(value)
    for name in ("min_amount", "max_amount"):
        if getattr(rule.when, name) is not None:
            when[name] = getattr(rule.when, name)
    data: dict[str, Any] = {"id": rule.id, "action": rule.action, "when": when}
    if rule.action == "split":
        data["weights"] = dict(rule.weights)
    else:
        data["channels"] = list(rule.channels)
    return data


def _bad(detail: str) -> PayHubError:
    return PayHubError("validation_error", param="rules", detail=detail)


def _strings(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _bad(f"{where} must be a non-empty list of strings")
    return frozenset(value)


def parse_rules(data: Any, *, channels: Collection[str]) -> tuple[Rule, ...]:
    """Rules from their JSON form; every channel named must exist."""
    if not isinstance(data, list) or len(data) > 100:
        raise _bad("a list of at most 100 rules")
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, item in enumerate(data):
        where = f"rule {n}"
        if not isinstance(item, dict):
            raise _bad(f"{where} must be an object")
        unknown = set(item) - {"id", "action", "when", "channels", "weights"}
        if unknown:
            raise _bad(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
        rule_id = item.get("id")
        if not isinstance(rule_id, str) or not 1 <= len(rule_id) <= 64 or rule_id in seen:
            raise _bad(f"{where} needs a unique id of 1-64 characters")
        seen.add(rule_id)
        action = item.get("action")
        if action not in ACTIONS:
            raise _bad(f"{where}: action is one of {', '.join(ACTIONS)}")
        when = _conditions(item.get("when", {}), where)
        if action == "split":
            weights = item.get("weights")
            if (
                not isinstance(weights, dict)
                or not weights
                or not all(isinstance(w, int) and not isinstance(w, bool) for w in weights.values())
                or any(w < 0 for w in weights.values())
                or sum(weights.values()) == 0
            ):
                raise _bad(f"{where}: weights map channels to non-negative integers")
            _known(weights, channels, where)
            rules.append(Rule(rule_id, "split", weights=dict(weights), when=when))
        else:
            named = item.get("channels")
            if not isinstance(named, list) or not named or len(set(named)) != len(named):
                raise _bad(f"{where}: channels is a non-empty list without repeats")
            _known(named, channels, where)
            rules.append(Rule(rule_id, action, channels=tuple(named), when=when))
    return tuple(rules)


def _known(named: Collection[Any], channels: Collection[str], where: str) -> None:
    missing = [str(c) for c in named if c not in channels]
    if missing:
        raise _bad(f"{where}: no such channel: {', '.join(missing)}")


def _conditions(data: Any, where: str) -> Conditions:
    if not isinstance(data, dict):
        raise _bad(f"{where}: when must be an object")
    unknown = set(data) - {*_CONDITION_SETS, "min_amount", "max_amount"}
    if unknown:
        raise _bad(f"{where}: unknown conditions: {', '.join(sorted(unknown))}")
    sets = {
        name: _strings(data[name], f"{where}.{name}") for name in _CONDITION_SETS if name in data
    }
    amounts: dict[str, int] = {}
    for name in ("min_amount", "max_amount"):
        if name in data:
            value = data[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise _bad(f"{where}.{name} must be a non-negative integer (minor units)")
            amounts[name] = value
    if amounts.get("min_amount", 0) > amounts.get("max_amount", 2**63):
        raise _bad(f"{where}: min_amount is above max_amount")
    return Conditions(
        issuers=sets.get("issuers"),
        card_types=sets.get("card_types"),
        scenes=sets.get("scenes"),
        merchants=sets.get("merchants"),
        min_amount=amounts.get("min_amount"),
        max_amount=amounts.get("max_amount"),
    )


def _view(row: RoutingRuleSet) -> RuleSetView:
    return RuleSetView(
        row.version, list(row.rules), row.active, row.note, row.created_by, row.created_at
    )


def default_view() -> RuleSetView:
    return RuleSetView(
        DEFAULT_RULES.version,
        [rule_to_data(r) for r in DEFAULT_RULES.rules],
        True,
        "shipped default",
        "payhub",
        None,
    )


_SETS = table_of(RoutingRuleSet)
_ACTIVE_VERSION = select(_SETS.c.version).where(_SETS.c.active.is_(True))
_ACTIVE_RULES = select(_SETS.c.version, _SETS.c.rules).where(_SETS.c.active.is_(True))


async def active_rules(tx: AsyncSession | Sql, *, channels: Collection[str]) -> RuleSet:
    """The active rule set (the shipped default when none was written)."""
    row = await (await as_sql(tx)).one(_ACTIVE_RULES)
    if row is None:
        return DEFAULT_RULES
    return RuleSet(row["version"], parse_rules(row["rules"], channels=channels))


_VERSIONS = VersionedTable(
    RoutingRuleSet, name="routing rules", not_found="routing_rules_not_found", created_by_max=40
)


async def active_view(session: AsyncSession) -> RuleSetView:
    row = await _VERSIONS.active(session)
    return _view(row) if row is not None else default_view()


async def list_versions(session: AsyncSession) -> list[RuleSetView]:
    return [_view(r) for r in await _VERSIONS.newest_first(session)] or [default_view()]


async def publish(
    session: AsyncSession,
    data: Any,
    *,
    channels: Collection[str],
    created_by: str,
    note: str | None = None,
    activate: bool = True,
) -> RuleSetView:
    """Write the rules as the next version (active at once unless `activate` is False)."""
    rules = [rule_to_data(r) for r in parse_rules(data, channels=channels)]
    row = await _VERSIONS.publish(
        session, {"rules": rules}, created_by=created_by, note=note, activate=activate
    )
    await audit.record(
        session,
        "routing_rules.published",
        target_type="routing_rules",
        target_id=str(row.version),
        details={"active": activate, "rules": row.rules, "note": note},
    )
    return _view(row)


async def active_version(tx: AsyncSession | Sql) -> int:
    version = await (await as_sql(tx)).value(_ACTIVE_VERSION)
    return DEFAULT_RULES.version if version is None else int(version)


async def activate(session: AsyncSession, version: int) -> RuleSetView:
    """Make an existing version the active one (a rollback, or a staged version going live)."""
    row, changed = await _VERSIONS.activate(session, version)
    if changed:
        await audit.record(
            session, "routing_rules.activated", target_type="routing_rules", target_id=str(version)
        )
    return _view(row)
