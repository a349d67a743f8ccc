"""What the monitor reports: an alert with its evidence, and a detector's raw hit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payhub.risk.monitoring.graph import Transaction

# An alert's evidence lists at most this many edges, the newest kept: the rest of a huge
# pattern adds nothing a reviewer reads, and the alert must stay storable.
MAX_EVIDENCE_EDGES = 500


@dataclass(frozen=True, slots=True)
class Evidence:
    """The sub-graph behind an alert: the parties and the transactions between them,
    including context (say the earlier payment a location jump is measured from)."""

    nodes: tuple[str, ...]
    edges: tuple[Transaction, ...]

    @classmethod
    def of(cls, edges: list[Transaction], extra_nodes: tuple[str, ...] = ()) -> Evidence:
        kept = sorted({tx.id: tx for tx in edges}.values(), key=lambda tx: (tx.at, tx.id))
        kept = kept[-MAX_EVIDENCE_EDGES:]
        nodes: dict[str, None] = dict.fromkeys(extra_nodes)
        for tx in kept:
            nodes.setdefault(tx.source)
            nodes.setdefault(tx.target)
        return cls(tuple(nodes), tuple(kept))

    def merged(self, other: Evidence) -> Evidence:
        return Evidence.of([*self.edges, *other.edges], (*self.nodes, *other.nodes))


@dataclass(frozen=True, slots=True)
class Hit:
    """A detector's finding about one subject (before cool-down and numbering)."""

    typology: str
    subject: str
    score: int
    transaction_ids: tuple[str, ...]  # the transactions the finding is about
    evidence: Evidence
    explanation: str


@dataclass(frozen=True, slots=True)
class Alert:
    """A typology found around one subject.

    `transaction_ids` are the transactions the alert is about (what a reviewer would mark
    suspicious); `evidence` adds the context edges. A repeat of the same typology on the
    same subject within the cool-down does not raise a new alert: it comes back as the same
    `id` with `revision` + 1 and the new transactions added, to be stored over the old.
    """

    id: str
    typology: str
    subject: str
    score: int
    raised_at: datetime  # the time of the transaction that raised it
    updated_at: datetime
    transaction_ids: tuple[str, ...]
    evidence: Evidence
    explanation: str
    revision: int = 1

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (times in RFC 3339, amounts in minor units)."""
        return {
            "id": self.id,
            "typology": self.typology,
            "subject": self.subject,
            "score": self.score,
            "raised_at": self.raised_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "revision": self.revision,
            "transaction_ids": list(self.transaction_ids),
            "explanation": self.explanation,
            "evidence": {
                "nodes": list(self.evidence.nodes),
                "edges": [
                    {
                        "id": tx.id,
                        "at": tx.at.isoformat(),
                        "source": tx.source,
                        "target": tx.target,
                        "amount": tx.amount,
                        "currency": tx.currency,
                        "kind": tx.kind,
                    }
                    for tx in self.evidence.edges
                ],
            },
        }
