"""How `payhub bench aml` scores a run: transactions flagged by alerts against labels.

A transaction counts as flagged when any alert (its last revision) lists it among its
transactions. Precision, recall and F1 are over the laundering class. Per typology: the
recall of the transactions labelled with that family (when the labels name families),
and, for each detector, its alerts and the share of the transactions it listed that
are laundering of any family (its precision).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from payhub.bench.aml_generator import Labelled
from payhub.risk.monitoring import TYPOLOGIES, Alert


@dataclass(frozen=True, slots=True)
class TypologyScore:
    labelled: int  # transactions labelled with this family
    recall: float | None  # None when no transaction carries the family's label
    alerts: int
    listed: int  # transactions the family's detector listed
    precision: float | None  # share of those that are laundering


@dataclass(frozen=True, slots=True)
class Score:
    transactions: int
    laundering: int
    flagged: int
    true_positives: int
    per_typology: dict[str, TypologyScore] = field(default_factory=dict)

    @property
    def laundering_share(self) -> float:
        return self.laundering / self.transactions if self.transactions else 0.0

    @property
    def precision(self) -> float:
        return self.true_positives / self.flagged if self.flagged else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.laundering if self.laundering else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def typologies_json(self) -> dict[str, dict[str, Any]]:
        return {
            name: {
                "recall": _round(s.recall),
                "alerts": s.alerts,
                "precision": _round(s.precision),
                "labelled": s.labelled,
                "listed": s.listed,
            }
            for name, s in self.per_typology.items()
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def score(labelled: Iterable[Labelled], alerts: Iterable[Alert]) -> Score:
    """Score the labelled transactions (only these count) against the alerts."""
    label = {item.tx.id: item.typology for item in labelled}
    by_detector: dict[str, set[str]] = {name: set() for name in TYPOLOGIES}
    alert_counts: dict[str, int] = dict.fromkeys(TYPOLOGIES, 0)
    for alert in alerts:
        alert_counts[alert.typology] = alert_counts.get(alert.typology, 0) + 1
        listed = by_detector.setdefault(alert.typology, set())
        listed.update(t for t in alert.transaction_ids if t in label)
    flagged = set().union(*by_detector.values())
    positives = {t for t, family in label.items() if family is not None}
    labelled_per: dict[str, int] = {}
    caught_per: dict[str, int] = {}
    for tx_id in positives:
        family = label[tx_id]
        assert family is not None
        labelled_per[family] = labelled_per.get(family, 0) + 1
        if tx_id in flagged:
            caught_per[family] = caught_per.get(family, 0) + 1
    per: dict[str, TypologyScore] = {}
    for name in sorted(set(TYPOLOGIES) | set(labelled_per), key=_order):
        listed = by_detector.get(name, set())
        n = labelled_per.get(name, 0)
        per[name] = TypologyScore(
            labelled=n,
            recall=caught_per.get(name, 0) / n if n else None,
            alerts=alert_counts.get(name, 0),
            listed=len(listed),
            precision=len(listed & positives) / len(listed) if listed else None,
        )
    return Score(
        transactions=len(label),
        laundering=len(positives),
        flagged=len(flagged),
        true_positives=len(flagged & positives),
        per_typology=per,
    )


def _order(name: str) -> tuple[int, str]:
    return (TYPOLOGIES.index(name) if name in TYPOLOGIES else len(TYPOLOGIES), name)
