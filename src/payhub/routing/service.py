"""This process's router: the configured strategy behind the active operator rules.

The strategy learns in memory, per process (each API process learns on its own traffic;
see docs/routing.md). The rules live in the database and every process follows the active
version: `current_router` compares the version on each decision and reloads on a change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import ChannelAdapter, ChannelInfo, ChannelKind
from payhub.core.config import get_settings
from payhub.db.sql import Sql
from payhub.routing import rules
from payhub.routing.base import Ranker, StaticRanker
from payhub.routing.engine import DEFAULT_RULES, Router

_router: Router | None = None


def _payhub() -> Ranker:
    from payhub.routing.learner import PayhubRanker

    return PayhubRanker()


STRATEGIES: Mapping[str, Callable[[], Ranker]] = {"static": StaticRanker, "payhub": _payhub}


def make_router(strategy: str) -> Router:
    """`static`: the shipped rule, no learning, no cascade; `payhub`: the learning engine."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown routing strategy {strategy!r}")
    return Router(
        STRATEGIES[strategy](),
        DEFAULT_RULES,
        budget_ms=get_settings().routing_budget_ms,
        cascade=strategy != "static",
    )


def get_router() -> Router:
    global _router
    if _router is None:
        _router = make_router(get_settings().routing_strategy)
    return _router


def set_router(router: Router | None) -> Router | None:
    """Install a router (None: from the settings on next use); returns the old one."""
    global _router
    previous, _router = _router, router
    return previous


def card_channels(adapters: Mapping[str, ChannelAdapter]) -> list[ChannelInfo]:
    return [a.info for a in adapters.values() if a.info.kind is ChannelKind.CARD]


async def current_router(tx: AsyncSession | Sql, channel_ids: list[str]) -> Router:
    """The router, following the active rule version (one indexed lookup per decision)."""
    router = get_router()
    version = await rules.active_version(tx)
    if version != router.rules.version:
        router.rules = await rules.active_rules(tx, channels=channel_ids)
    return router


def channel_health() -> dict[str, dict[str, object]]:
    """What this process's strategy reports per channel (empty for a strategy that learns
    nothing)."""
    snapshot = getattr(get_router().ranker, "snapshot", None)
    if snapshot is None:
        return {}
    result: dict[str, dict[str, object]] = snapshot()
    return result
