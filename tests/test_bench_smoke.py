"""`payhub bench ledger` runs end to end and writes its figures (a smoke test, not a
measurement: SQLite only, one second per phase)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import POSTGRES
from tests.processes import run_payhub

pytestmark = pytest.mark.skipif(POSTGRES, reason="smoke test of the benchmark; SQLite only")


def test_bench_ledger_writes_its_figures(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}"
    out = tmp_path / "figures" / "bench.json"
    done = run_payhub(
        "bench",
        "ledger",
        "--seconds",
        "1",
        "--accounts",
        "200",
        "--clients",
        "2",
        "--json",
        str(out),
        database_url=database_url,
        cwd=tmp_path,
        timeout=180,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr

    figures = json.loads(out.read_text(encoding="utf-8"))
    assert {
        "database",
        "clients",
        "pgbench_tps",
        "single_tps",
        "batched_tps",
        "hot_tps",
        "p99_ms_single",
    } <= set(figures)
    assert figures["database"] == "sqlite"
    assert figures["clients"] == 2
    assert figures["processes"] == 1  # SQLite has one writer
    assert figures["accounts"] == 200
    assert figures["seconds_per_phase"] == 1
    assert figures["pgbench_tps"] is None  # pgbench is for PostgreSQL
    assert figures["reference"].startswith("sqlite3 tpcb-like")
    assert figures["reference_tps"] > 0
    for name in ("single_tps", "batched_tps", "hot_tps"):
        assert isinstance(figures[name], float)
        assert figures[name] > 0, name
    assert figures["p99_ms_single"] > 0
    assert figures["p50_ms_single"] <= figures["p99_ms_single"]
    assert set(figures["errors"]) == {"single", "batched", "hot"}
    assert figures["targets_met"] is None  # targets are judged on PostgreSQL only
    # The ratios are computed from the same figures.
    ratio = figures["ratios"]["batched_vs_reference"]
    assert ratio == pytest.approx(figures["batched_tps"] / figures["reference_tps"], abs=0.01)
    assert "Ledger benchmark on sqlite, 2 clients" in " ".join(done.stdout.split())
