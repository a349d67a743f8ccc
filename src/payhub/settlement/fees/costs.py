"""The channel cost report: what channels actually charged us for a period's payments,
against what the same payments would have cost at the chosen channels' list prices and on
the static route (the shipped rule with no learning: partner-bank cards to the in-house
channel, everything else to the first channel that takes it, UnionPay quick pay).

And the same comparison from the routing benchmark's recorded results
(`bench/results/routing-*.json`): fee basis points of the static strategy against
PayHub's learning router over each shipped scenario.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import CardType, ChannelInfo, ChannelKind
from payhub.db.sql import Sql
from payhub.payments import channels
from payhub.routing.base import Context, StaticRanker
from payhub.routing.engine import Router
from payhub.settlement.fees import margins

PAGE = 2_000


@dataclass(slots=True)
class CostLine:
    """One channel's (or the total's) traffic and its cost three ways."""

    key: str
    currency: str
    payments: int = 0
    captured: int = 0
    actual: int = 0  # booked, net of any fee the channel returned
    list_price: int = 0  # the same channel at its list prices
    static_route: int = 0  # the static route's channel at its list prices

    @property
    def saving_vs_static_pct(self) -> float | None:
        if self.static_route <= 0:
            return None
        return round((self.static_route - self.actual) * 100 / self.static_route, 2)

    def bps(self, cost: int) -> float | None:
        return round(cost * 10_000 / self.captured, 2) if self.captured else None


@dataclass(slots=True)
class CostReport:
    start: datetime | None
    end: datetime | None
    by_channel: list[CostLine] = field(default_factory=list)
    totals: list[CostLine] = field(default_factory=list)  # one per currency


def static_channel(
    router: Router, infos: list[ChannelInfo], *, issuer: str, card_type: str, amount: int,
    currency: str, at: datetime, scene: str, key: str,
) -> ChannelInfo | None:  # fmt: skip
    """The channel the static route would have sent this payment to first (None: none)."""
    ctx = Context(
        payment_key=key,
        issuer=issuer,
        card_type=CardType(card_type),
        amount=amount,
        currency=currency,
        at=at,
        scene=scene,
    )
    order = router.decide(ctx, infos).order
    by_id = {i.channel_id: i for i in infos}
    return by_id[order[0]] if order else None


async def channel_cost_report(
    tx: AsyncSession | Sql,
    *,
    start: datetime | None,
    end: datetime | None,
    progress: Callable[[int], None] | None = None,
) -> CostReport:
    """Over the payments first captured in `[start, end)`: actual channel cost, list-price
    cost and static-route cost, per channel and in total (per currency). Read in pages of
    fee records; `progress` hears how many were read so far."""
    infos = [a.info for a in channels.get_channels().values() if a.info.kind is ChannelKind.CARD]
    by_id = {i.channel_id: i for i in infos}
    router = Router(StaticRanker(), cascade=False)
    lines: dict[tuple[str, str], CostLine] = {}
    totals: dict[str, CostLine] = {}
    after, seen = "", 0
    while True:
        page = await margins.fee_rows(tx, start=start, end=end, after=after, limit=PAGE)
        for fee in page:
            card_type = CardType(fee.card_type)
            used = by_id.get(fee.channel_id)
            list_price = used.fee(fee.captured, card_type) if used is not None else 0
            static = static_channel(
                router, infos, issuer=fee.issuer, card_type=fee.card_type, amount=fee.captured,
                currency=fee.currency, at=fee.first_captured_at, scene=fee.scene,
                key=fee.payment_id,
            )  # fmt: skip
            # A payment the static route could not have taken is counted at its own channel.
            static_cost = static.fee(fee.captured, card_type) if static else list_price
            for line in (
                lines.setdefault(
                    (fee.channel_id, fee.currency), CostLine(fee.channel_id, fee.currency)
                ),
                totals.setdefault(fee.currency, CostLine("total", fee.currency)),
            ):
                line.payments += 1
                line.captured += fee.captured
                line.actual += fee.net_channel_cost
                line.list_price += list_price
                line.static_route += static_cost
        seen += len(page)
        if progress is not None:
            progress(seen)
        if len(page) < PAGE:
            break
        after = page[-1].payment_id
    return CostReport(
        start=start,
        end=end,
        by_channel=[lines[k] for k in sorted(lines)],
        totals=[totals[k] for k in sorted(totals)],
    )


# ------------------------------------------------------------------- from the benchmark


@dataclass(frozen=True, slots=True)
class ScenarioSaving:
    """One routing scenario: fee bps of approved volume, static route against PayHub."""

    scenario: str
    payments: int
    seeds: int
    static_fee_bps: float
    payhub_fee_bps: float
    static_success_rate: float
    payhub_success_rate: float

    @property
    def saving_pct(self) -> float:
        return round((self.static_fee_bps - self.payhub_fee_bps) * 100 / self.static_fee_bps, 2)


def _mean_or(strategy: dict[str, object], seeds: object, name: str) -> tuple[float, int]:
    """The mean over the seeds when the file has them, else the single run's figure."""
    if isinstance(seeds, dict):
        runs = seeds.get("strategies", {})
        if isinstance(runs, dict) and isinstance(runs.get(name), dict):
            fee = runs[name].get("fee_bps")
            if isinstance(fee, dict) and "mean" in fee:
                return float(fee["mean"]), int(fee.get("n", 1))
    return float(strategy["fee_bps"]), 1  # type: ignore[arg-type]


def bench_savings(paths: Iterable[Path]) -> list[ScenarioSaving]:
    """The saving of each routing benchmark result file (`routing-<scenario>.json`)."""
    found = []
    for path in sorted(paths):
        data = json.loads(path.read_text(encoding="utf-8"))
        strategies = data.get("strategies") or {}
        static, payhub = strategies.get("static"), strategies.get("payhub")
        if not isinstance(static, dict) or not isinstance(payhub, dict):
            continue
        if not static.get("fee_bps") or payhub.get("fee_bps") is None:
            continue
        static_bps, n = _mean_or(static, data.get("seeds"), "static")
        payhub_bps, _ = _mean_or(payhub, data.get("seeds"), "payhub")
        found.append(
            ScenarioSaving(
                scenario=str(data.get("scenario") or path.stem),
                payments=int(data.get("payments") or 0),
                seeds=n,
                static_fee_bps=static_bps,
                payhub_fee_bps=payhub_bps,
                static_success_rate=float(static.get("success_rate") or 0.0),
                payhub_success_rate=float(payhub.get("success_rate") or 0.0),
            )
        )
    return found


def bench_result_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("routing-*.json"))
