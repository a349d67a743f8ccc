"""The chart of `payhub bench aml`: recall per typology, precision and recall overall and
on the mission's patterns, and throughput against the reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw(path: Path, result: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, middle, right) = plt.subplots(
        1, 3, figsize=(15, 5), gridspec_kw={"width_ratios": [3, 2, 1.3]}
    )
    rows = [(name, r) for name, r in result["per_typology"].items() if r["recall"] is not None]
    names = [name.replace("_", " ") for name, _ in rows]
    left.barh(names, [r["recall"] for _, r in rows], color="#1f77b4")
    for i, (_, r) in enumerate(rows):
        left.text(
            min(r["recall"], 0.98),
            i,
            f" {r['alerts']} alerts",
            va="center",
            ha="right" if r["recall"] > 0.6 else "left",
            color="white" if r["recall"] > 0.6 else "black",
            fontsize=8,
        )
    left.set_xlim(0, 1)
    left.invert_yaxis()
    left.set_xlabel("recall of the labelled transactions")
    left.set_title("Recall per typology")

    groups = [("overall", result["precision"], result["recall"])]
    for name in ("high_frequency_small", "location_anomaly"):
        row = result["per_typology"].get(name)
        if row and row["recall"] is not None:
            groups.append((name.replace("_", " "), row["precision"] or 0, row["recall"]))
    xs = range(len(groups))
    middle.bar(
        [x - 0.2 for x in xs], [g[1] for g in groups], 0.4, label="precision", color="#2ca02c"
    )
    middle.bar([x + 0.2 for x in xs], [g[2] for g in groups], 0.4, label="recall", color="#1f77b4")
    middle.axhline(0.95, color="#d62728", linestyle="--", linewidth=0.8, label="recall 0.95")
    middle.axhline(0.8, color="#ff7f0e", linestyle=":", linewidth=0.8, label="precision 0.8")
    middle.set_xticks(list(xs), [g[0] for g in groups], fontsize=8)
    middle.set_ylim(0, 1.05)
    middle.set_title(f"Precision and recall (F1 {result['f1']:.3f})")
    middle.legend(loc="lower left", fontsize=7)

    right.bar(
        ["reference\n(counters)", "monitor"],
        [result["reference_tx_per_s"], result["monitor_tx_per_s"]],
        color=["#888888", "#1f77b4"],
    )
    right.axhline(3_000, color="#d62728", linestyle="--", linewidth=0.8, label="target 3,000")
    right.set_yscale("log")
    right.set_ylabel("transactions per second (log)")
    right.set_title("Throughput, one process")
    right.legend(loc="upper right", fontsize=7)

    source = result["source"]
    what = (
        f"generated, seed {source['seed']}"
        if source["kind"] == "generated"
        else f"AMLworld {source['file']}"
    )
    fig.suptitle(f"payhub bench aml — {result['transactions']:,} transactions ({what})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
