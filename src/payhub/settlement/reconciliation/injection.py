"""Seeded break injection into a channel's statement, with the truth of what was injected,
so tests and the benchmark can score the engine: every injected break found, nothing else.

The statement handed in is the channel's true record of one day (every line matches our
books). Injection changes it the way real statements go wrong:

- `missing_on_statement`: a line dropped (the channel never settled it);
- `missing_in_ledger`: a line added that we have no record of;
- `amount_mismatch`: a line's amount changed: the channel netted its fee, or FX rounding;
- `duplicate`: a line listed twice;
- `timing`: a line near the cut-off moved to the next day's statement;
- `lost_references` (not a break): a line's request id blanked, as channels that do not echo
  it report; the engine must still match it by amount, currency and time.

A line gets at most one change. Dropped lines are taken from before the late window and
late lines from inside it, so a dropped line is a break and a late one is timing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from payhub.channels.base import StatementKind, StatementLine

# Late lines are taken this far inside the late window, clear of its edge.
_EDGE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Injection:
    """How many breaks of each type to inject."""

    missing_on_statement: int = 0
    missing_in_ledger: int = 0
    amount_mismatch: int = 0
    duplicate: int = 0
    timing: int = 0
    lost_references: int = 0

    @property
    def breaks(self) -> int:
        return (
            self.missing_on_statement
            + self.missing_in_ledger
            + self.amount_mismatch
            + self.duplicate
            + self.timing
        )

    @classmethod
    def spread(cls, total: int) -> Injection:
        """`total` breaks spread over the five types, plus as many lost references."""
        share, extra = divmod(total, 5)
        a, b, c, d, e = (share + (1 if i < extra else 0) for i in range(5))
        return cls(a, b, c, d, e, lost_references=share)


@dataclass(frozen=True, slots=True)
class InjectedBreak:
    type: str
    request_id: str


@dataclass(slots=True)
class Injected:
    statement: list[StatementLine]  # day D as the channel sends it
    next_day: list[StatementLine]  # the late lines, for day D + 1's statement
    truth: list[InjectedBreak] = field(default_factory=list)

    def expected(self) -> set[tuple[str, str]]:
        return {(b.type, b.request_id) for b in self.truth}


class NotEnoughLinesError(ValueError):
    pass


def _fabricated(template: StatementLine, n: int, rng: random.Random) -> StatementLine:
    tag = f"{rng.getrandbits(64):016x}{n:06d}"
    return replace(
        template,
        request_id=f"req_unknown_{tag}",
        channel_ref=f"ref_unknown_{tag}",
        authorization_ref=f"auth_unknown_{tag}",
        payment_id=f"pay_unknown_{tag}",
    )


def _mismatched(line: StatementLine, rng: random.Random) -> StatementLine:
    if line.kind is StatementKind.CAPTURE and 0 < line.fee < line.amount and rng.random() < 0.5:
        return replace(line, amount=line.amount - line.fee)  # the channel netted its fee
    delta = rng.randint(1, 99) * rng.choice((-1, 1))  # FX rounding on a converted amount
    if line.amount + delta <= 0:
        delta = -delta
    return replace(line, amount=line.amount + delta)


def inject(
    lines: Sequence[StatementLine],
    plan: Injection,
    *,
    seed: int,
    day_end: datetime,
    late_window: timedelta,
) -> Injected:
    """Apply `plan` to a day's true statement (lines in `[day_end - 1 day, day_end)`)."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible injection, not a secret
    cutoff = day_end - late_window
    early = [i for i, ln in enumerate(lines) if ln.occurred_at < cutoff and ln.request_id]
    late = [i for i, ln in enumerate(lines) if ln.occurred_at >= cutoff + _EDGE and ln.request_id]
    changed_early = plan.missing_on_statement + plan.amount_mismatch + plan.duplicate
    changed_early += plan.lost_references
    if (
        len(early) < changed_early
        or len(late) < plan.timing
        or (plan.missing_in_ledger and not lines)
    ):
        raise NotEnoughLinesError("the statement has too few lines for this injection")
    picked = rng.sample(early, changed_early)
    late_picked = set(rng.sample(late, plan.timing))
    cursor = 0

    def take(n: int) -> list[int]:
        nonlocal cursor
        out = picked[cursor : cursor + n]
        cursor += n
        return out

    dropped = set(take(plan.missing_on_statement))
    mismatched = set(take(plan.amount_mismatch))
    duplicated = set(take(plan.duplicate))
    blanked = set(take(plan.lost_references))

    result = Injected(statement=[], next_day=[])
    for i, line in enumerate(lines):
        if i in dropped:
            result.truth.append(InjectedBreak("missing_on_statement", line.request_id))
            continue
        if i in late_picked:
            result.truth.append(InjectedBreak("timing", line.request_id))
            result.next_day.append(line)
            continue
        if i in mismatched:
            result.truth.append(InjectedBreak("amount_mismatch", line.request_id))
            line = _mismatched(line, rng)
        elif i in blanked:
            line = replace(line, request_id="")
        result.statement.append(line)
        if i in duplicated:
            result.truth.append(InjectedBreak("duplicate", line.request_id))
            result.statement.append(line)
    for n in range(plan.missing_in_ledger):
        extra = _fabricated(lines[rng.randrange(len(lines))], n, rng)
        result.truth.append(InjectedBreak("missing_in_ledger", extra.request_id))
        # Somewhere in the day, among the others.
        result.statement.insert(rng.randrange(len(result.statement) + 1), extra)
    return result
