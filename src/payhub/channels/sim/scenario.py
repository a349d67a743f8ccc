"""Scenario files: the world the simulator plays (JSON; YAML accepted too).

The format is the one in DESIGN.md §5 plus what the simulator needs besides: per-channel
`lost_rate`, amount limits, currencies and card types, incidents that lose responses, payout
rails, and an optional `start_at` anchoring simulated time. Unknown fields are refused, so a
misspelt key is an error rather than a silently ignored setting. See docs/simulator.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import date, datetime, time
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from payhub.channels.base import (
    BusinessHours,
    CardType,
    ChannelInfo,
    ChannelKind,
    SettlementSchedule,
)
from payhub.core.clock import parse_rfc3339
from payhub.core.currencies import get_currency

# Numbers are strict: `true` is not 1 and "0.5" is not a number (an int is a fine float).
Probability = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]
Float = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Int = Annotated[int, Strict()]
IssuerCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,31}$")]
ChannelId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Bps = Annotated[int, Strict(), Field(ge=0, le=10_000)]
Minor = Annotated[int, Strict(), Field(gt=0, le=2**63 - 1)]

# The 99th percentile of the standard normal: the log-normal fitted to a median and a p99
# has sigma = (ln p99 - ln median) / Z99.
Z99 = 2.3263478740408408


class ScenarioError(ValueError):
    """A scenario file that cannot be read or does not describe a valid world."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _issuer_selector(value: Any) -> tuple[str, ...] | None:
    """'*' (every issuer) → None; a non-empty list of codes → a tuple."""
    if value == "*":
        return None
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        if len(set(value)) != len(value):
            raise ValueError("lists an issuer twice")
        return tuple(value)
    raise ValueError('must be "*" or a non-empty list of issuer codes')


def _currency_list(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not (isinstance(value, list | tuple) and value):
        raise ValueError("must be a non-empty list of ISO 4217 codes")
    for code in value:
        if not isinstance(code, str) or get_currency(code) is None:
            raise ValueError(f"{code!r} is not an ISO 4217 currency")
    return tuple(value)


def _dump_selector(value: tuple[str, ...] | None) -> str | list[str]:
    return "*" if value is None else list(value)


IssuerSelector = Annotated[
    tuple[str, ...] | None,
    BeforeValidator(_issuer_selector),
    PlainSerializer(_dump_selector),
]
CurrencyList = Annotated[tuple[str, ...] | None, BeforeValidator(_currency_list)]


class AmountSpec(_Model):
    """Payment amounts: log-normal with this median (minor units) and sigma."""

    median_minor: Minor
    sigma: Float = Field(ge=0.0, le=5.0)


class IssuerSpec(_Model):
    code: IssuerCode
    # Of all payments. Shares are relative weights: they are scaled to add up to 1, so a
    # file may list only some issuers (as the DESIGN example does) or use percentages.
    share: Float = Field(gt=0.0)
    credit_share: Probability = 0.0  # of this issuer's cards


class FeeSpec(_Model):
    debit: Bps
    credit: Bps


class LatencySpec(_Model):
    """Log-normal response time fitted to a median and a 99th percentile, in ms."""

    median: Float = Field(gt=0.0)
    p99: Float = Field(gt=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.p99 < self.median:
            raise ValueError(f"p99 ({self.p99:g}) must not be below median ({self.median:g})")
        return self

    @property
    def mu(self) -> float:
        return math.log(self.median)

    @property
    def sigma(self) -> float:
        return (math.log(self.p99) - math.log(self.median)) / Z99


class SuccessSpec(_Model):
    """Probability that the channel approves a payment the issuer would approve."""

    default: Probability
    by_issuer: dict[str, Probability] = Field(default_factory=dict)

    def for_issuer(self, issuer: str) -> float:
        return self.by_issuer.get(issuer, self.default)


class SettlementSpec(_Model):
    """When the channel pays into custody: each day's movements up to `cutoff` (China
    time) arrive `delay_days` business days later."""

    delay_days: Int = Field(default=1, ge=0, le=30)
    cutoff: str = Field(default="23:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class ChannelSpec(_Model):
    """A card channel."""

    id: ChannelId
    issuers: IssuerSelector  # "*" in the file → None (every issuer)
    card_types: tuple[CardType, ...] = (CardType.DEBIT, CardType.CREDIT)
    fee_bps: FeeSpec
    latency_ms: LatencySpec
    timeout_ms: Int = Field(gt=0)
    success: SuccessSpec
    lost_rate: Probability = 0.0  # probability that an approved response is lost
    min_amount: Minor | None = None
    max_amount: Minor | None = None
    currencies: CurrencyList = None  # None → the scenario's currency
    settlement: SettlementSpec = Field(default_factory=SettlementSpec)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (
            self.min_amount is not None
            and self.max_amount is not None
            and self.min_amount > self.max_amount
        ):
            raise ValueError("min_amount is above max_amount")
        if not self.card_types:
            raise ValueError("card_types must not be empty")
        return self

    def serves(self, issuer: str) -> bool:
        return self.issuers is None or issuer in self.issuers


class IncidentSpec(_Model):
    """A window of simulated time in which a channel (or channel × issuer) misbehaves."""

    channel: str
    issuer: str | None = None
    start_s: Float = Field(ge=0.0)
    end_s: Float
    success_multiplier: Float | None = Field(default=None, ge=0.0)
    timeout_rate: Probability | None = None
    lost_rate: Probability | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s:g}) must be after start_s ({self.start_s:g})")
        if self.success_multiplier is None and self.timeout_rate is None and self.lost_rate is None:
            raise ValueError(
                "an incident needs at least one of success_multiplier, timeout_rate, lost_rate"
            )
        return self

    def applies(self, channel: str, issuer: str, at_s: float) -> bool:
        return (
            self.channel == channel
            and (self.issuer is None or self.issuer == issuer)
            and self.start_s <= at_s < self.end_s
        )


class BusinessHoursSpec(_Model):
    days: tuple[Int, ...] = (1, 2, 3, 4, 5)  # ISO weekdays, Monday = 1
    open: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    close: str = Field(pattern=r"^([01]\d|2[0-4]):[0-5]\d$")
    utc_offset: str = Field(default="+08:00", pattern=r"^[+-]\d{2}:\d{2}$")
    holidays: tuple[date, ...] = ()

    @field_validator("days")
    @classmethod
    def _days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(not 1 <= d <= 7 for d in value):
            raise ValueError("days are ISO weekdays 1 (Monday) to 7 (Sunday)")
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.close <= self.open:
            raise ValueError(f"close ({self.close}) must be after open ({self.open})")
        return self

    def to_hours(self) -> BusinessHours:
        sign = -1 if self.utc_offset[0] == "-" else 1
        hours, minutes = self.utc_offset[1:].split(":")
        close = time.max if self.close == "24:00" else time.fromisoformat(self.close)
        return BusinessHours(
            days=frozenset(self.days),
            opens=time.fromisoformat(self.open),
            closes=close,
            utc_offset_minutes=sign * (int(hours) * 60 + int(minutes)),
            holidays=frozenset(self.holidays),
        )


class PayoutRailSpec(_Model):
    """A payout rail: partner-bank internal transfer, IBPS, HVPS…"""

    id: ChannelId
    banks: IssuerSelector = None  # beneficiary banks served; "*" → all
    latency_ms: LatencySpec
    timeout_ms: Int = Field(gt=0)
    success: Probability = 0.999
    lost_rate: Probability = 0.0
    min_amount: Minor | None = None
    max_amount: Minor | None = None  # per payment (IBPS); None → no limit (HVPS)
    currencies: CurrencyList = None
    fee_minor: Int = Field(default=0, ge=0)
    business_hours: BusinessHoursSpec | None = None  # None → 7×24
    # Approved payouts the beneficiary bank later sends back (account closed, name
    # mismatch): `query_payout` answers `RT` from `return_after_s` after the payout.
    return_rate: Probability = 0.0
    return_after_s: Float = Field(default=3600.0, ge=0.0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (
            self.min_amount is not None
            and self.max_amount is not None
            and self.min_amount > self.max_amount
        ):
            raise ValueError("min_amount is above max_amount")
        return self


class Scenario(_Model):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = None
    seed: Int = Field(ge=0)
    duration_s: Float = Field(gt=0.0)
    payments: Int = Field(ge=0)
    currency: str
    start_at: datetime | None = None  # anchors simulated second 0; else the network's start
    amount: AmountSpec
    hard_decline_rate: Probability
    issuers: tuple[IssuerSpec, ...]
    channels: tuple[ChannelSpec, ...]
    incidents: tuple[IncidentSpec, ...] = ()
    payout_rails: tuple[PayoutRailSpec, ...] = ()

    @field_validator("issuers", "channels")
    @classmethod
    def _not_empty(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        if not value:
            raise ValueError("must list at least one")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if get_currency(value) is None:
            raise ValueError(f"{value!r} is not an ISO 4217 currency")
        return value

    @field_validator("start_at", mode="before")
    @classmethod
    def _start_at(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_rfc3339(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("start_at needs a time zone (e.g. 2026-11-25T02:00:00Z)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[str] = []
        codes = [i.code for i in self.issuers]
        known = set(codes)
        for dup in _duplicates(codes):
            problems.append(f"issuers: {dup} is listed twice")
        ids = [c.id for c in self.channels] + [r.id for r in self.payout_rails]
        for dup in _duplicates(ids):
            problems.append(f"channels/payout_rails: the id {dup} is used twice")
        for ch in self.channels:
            for code in (ch.issuers or ()) + tuple(ch.success.by_issuer):
                if code not in known:
                    problems.append(f"channels ({ch.id}): unknown issuer {code}")
        for rail in self.payout_rails:
            for code in rail.banks or ():
                if code not in known:
                    problems.append(f"payout_rails ({rail.id}): unknown bank {code}")
        for n, inc in enumerate(self.incidents):
            if inc.channel not in ids:
                problems.append(f"incidents[{n}]: unknown channel {inc.channel}")
            if inc.issuer is not None and inc.issuer not in known:
                problems.append(f"incidents[{n}]: unknown issuer {inc.issuer}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # -- lookups ---------------------------------------------------------------------------

    def channel(self, channel_id: str) -> ChannelSpec:
        for ch in self.channels:
            if ch.id == channel_id:
                return ch
        raise KeyError(f"no channel {channel_id!r} in scenario {self.name!r}")

    def rail(self, rail_id: str) -> PayoutRailSpec:
        for rail in self.payout_rails:
            if rail.id == rail_id:
                return rail
        raise KeyError(f"no payout rail {rail_id!r} in scenario {self.name!r}")

    @property
    def issuer_weights(self) -> list[tuple[str, float]]:
        """(issuer, probability) with the shares scaled to add up to 1."""
        total = sum(i.share for i in self.issuers)
        return [(i.code, i.share / total) for i in self.issuers]

    @property
    def channel_ids(self) -> list[str]:
        return [c.id for c in self.channels]

    @property
    def rail_ids(self) -> list[str]:
        return [r.id for r in self.payout_rails]

    def incidents_for(self, channel_id: str) -> tuple[IncidentSpec, ...]:
        return tuple(i for i in self.incidents if i.channel == channel_id)

    def info(self, channel_id: str) -> ChannelInfo:
        """Eligibility and cost of one channel or payout rail, for the router."""
        for ch in self.channels:
            if ch.id == channel_id:
                return ChannelInfo(
                    channel_id=ch.id,
                    kind=ChannelKind.CARD,
                    issuers=frozenset(ch.issuers) if ch.issuers is not None else None,
                    card_types=frozenset(ch.card_types),
                    currencies=frozenset(ch.currencies or (self.currency,)),
                    min_amount=ch.min_amount,
                    max_amount=ch.max_amount,
                    fee_bps_debit=ch.fee_bps.debit,
                    fee_bps_credit=ch.fee_bps.credit,
                    fee_fixed_minor=0,
                    timeout_ms=ch.timeout_ms,
                    latency_median_ms=ch.latency_ms.median,
                    latency_p99_ms=ch.latency_ms.p99,
                    settlement=SettlementSchedule(
                        delay_days=ch.settlement.delay_days, cutoff=ch.settlement.cutoff
                    ),
                )
        rail = self.rail(channel_id)
        return ChannelInfo(
            channel_id=rail.id,
            kind=ChannelKind.PAYOUT,
            issuers=frozenset(rail.banks) if rail.banks is not None else None,
            card_types=frozenset(),
            currencies=frozenset(rail.currencies or (self.currency,)),
            min_amount=rail.min_amount,
            max_amount=rail.max_amount,
            fee_bps_debit=0,
            fee_bps_credit=0,
            fee_fixed_minor=rail.fee_minor,
            timeout_ms=rail.timeout_ms,
            latency_median_ms=rail.latency_ms.median,
            latency_p99_ms=rail.latency_ms.p99,
            business_hours=rail.business_hours.to_hours() if rail.business_hours else None,
        )


def _duplicates(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dups: list[str] = []
    for value in values:
        if value in seen and value not in dups:
            dups.append(value)
        seen.add(value)
    return dups


# -------------------------------------------------------------------------------------------
# Loading
# -------------------------------------------------------------------------------------------


def _format_location(loc: tuple[int | str, ...], data: Any) -> str:
    """('channels', 1, 'latency_ms', 'p99') → 'channels[1] (unionpay_quick).latency_ms.p99'."""
    text = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if isinstance(node, dict):
                label = node.get("id", node.get("code"))
                if isinstance(label, str):
                    text += f" ({label})"
        else:
            text += ("." if text else "") + part
            node = node.get(part) if isinstance(node, dict) else None
    return text or "(top level)"


def _explain(error: ValidationError, data: Any) -> list[str]:
    lines = []
    for item in error.errors():
        where = _format_location(tuple(item["loc"]), data)
        message = item["msg"].removeprefix("Value error, ")
        if not item["loc"]:
            # Whole-scenario checks name their own places, one per line.
            lines.extend(message.splitlines())
            continue
        if item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        elif item["type"] == "missing":
            message = "required field is missing"
        elif not isinstance(item.get("input"), dict | list):
            shown = repr(item.get("input"))
            message += f" (got {shown[:60]})"
        lines.append(f"{where}: {message}")
    return lines


def scenario_from_data(data: Any, *, source: str = "scenario") -> Scenario:
    """Validate already-parsed data (a dict) as a scenario."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: the top level must be an object (a mapping)")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = _explain(exc, data)
        raise ScenarioError(
            f"{source} is not a valid scenario ({len(lines)} problem"
            f"{'s' if len(lines) != 1 else ''}):\n  " + "\n  ".join(lines)
        ) from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ScenarioError(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def parse_scenario(
    text: str, *, format: Literal["json", "yaml"] = "json", source: str = "scenario"
) -> Scenario:
    """Parse scenario text in JSON or YAML."""
    data: Any
    if format == "json":
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except json.JSONDecodeError as exc:
            raise ScenarioError(
                f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from None
        except ScenarioError as exc:
            raise ScenarioError(f"{source}: {exc}") from None
    elif format == "yaml":
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or "cannot be parsed"
            raise ScenarioError(f"{source} is not valid YAML: {problem}{where}") from None
    else:
        raise ScenarioError(f"unknown scenario format {format!r}: use json or yaml")
    return scenario_from_data(data, source=source)


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file: `.json`, or `.yaml`/`.yml`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise ScenarioError(f"{path}: scenario files end in .json, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return parse_scenario(text, format="json" if suffix == ".json" else "yaml", source=str(path))


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped with PayHub."""
    folder = resources.files("payhub.channels.sim") / "scenarios"
    return sorted(
        entry.name.rsplit(".", 1)[0]
        for entry in folder.iterdir()
        if entry.name.endswith((".json", ".yaml"))
    )


def builtin_scenario(name: str = "default") -> Scenario:
    """A scenario shipped with PayHub (`default`: the Chinese bank network)."""
    folder = resources.files("payhub.channels.sim") / "scenarios"
    formats: tuple[tuple[str, Literal["json", "yaml"]], ...] = (
        (".json", "json"),
        (".yaml", "yaml"),
    )
    for suffix, fmt in formats:
        entry = folder / f"{name}{suffix}"
        if entry.is_file():
            return parse_scenario(
                entry.read_text(encoding="utf-8"),
                format=fmt,
                source=f"built-in scenario {name}",
            )
    raise ScenarioError(
        f"no built-in scenario {name!r}; there are: {', '.join(builtin_scenarios())}"
    )
