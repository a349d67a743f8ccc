"""`payhub bench payments` runs end to end and writes its figures (a smoke test, not a
measurement: SQLite only, a few clients, about a second per phase)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from payhub.db.migrate import upgrade
from payhub.db.session import Database
from payhub.merchants import service as merchants
from tests.conftest import POSTGRES
from tests.processes import run_payhub

pytestmark = pytest.mark.skipif(POSTGRES, reason="smoke test of the benchmark; SQLite only")

KEYS = {
    "database",
    "clients",
    "payments_per_s",
    "p50_ms",
    "p99_ms",
    "pgbench_tps",
    "within_1s_share",
    "extra",
}


def _merchant_names(url: str) -> list[str]:
    """Migrates the database and returns its merchants' names."""

    async def go() -> list[str]:
        db = Database(url, pool_size=1)
        await upgrade(db.engine)
        found, _ = await db.run_in_transaction(lambda s: merchants.list_merchants(s, limit=100))
        await db.dispose()
        return [m.name for m in found]

    return asyncio.run(go())


def _add_merchant(url: str, name: str) -> None:
    async def go() -> None:
        db = Database(url, pool_size=1)
        await upgrade(db.engine)
        await db.run_in_transaction(
            lambda s: merchants.create_merchant(s, merchants.MerchantSpec(name=name))
        )
        await db.dispose()

    asyncio.run(go())


def test_bench_payments_refuses_a_database_with_other_data(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    _add_merchant(url, "Real noodle shop")
    done = run_payhub(
        "bench", "payments", "--seconds", "1", database_url=url, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 2, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "refused" in done.stderr
    assert "--reset" in done.stderr
    assert _merchant_names(url) == ["Real noodle shop"]  # nothing was touched


def test_bench_payments_writes_its_figures(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}"
    _add_merchant(url, "Wiped by --reset")
    out = tmp_path / "figures" / "payments.json"
    chart = tmp_path / "figures" / "payments.png"
    done = run_payhub(
        "bench",
        "payments",
        "--seconds",
        "1",
        "--warmup",
        "0.5",
        "--clients",
        "3",
        "--customers",
        "12",
        "--reset",
        "--json",
        str(out),
        "--chart",
        str(chart),
        database_url=url,
        cwd=tmp_path,
        timeout=240,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr

    figures = json.loads(out.read_text(encoding="utf-8"))
    assert set(figures) == KEYS
    assert figures["database"] == "sqlite"
    assert figures["clients"] == 3
    assert figures["pgbench_tps"] is None  # pgbench is for PostgreSQL
    assert figures["payments_per_s"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert 0.0 <= figures["within_1s_share"] <= 1.0

    extra = figures["extra"]
    assert extra["reference"].startswith("sqlite3 tpcb-like")
    assert extra["reference_tps"] > 0
    assert extra["server_workers"] == 1  # SQLite has one writer
    assert extra["customers"] == 12
    assert extra["targets_met"] is None  # targets are judged on PostgreSQL only
    assert set(extra["phases"]) == {"throughput", "overhead", "latency"}
    # The overhead phase offers the target rate on a schedule; the others go flat out.
    assert extra["phases"]["overhead"]["offered_per_s"] == extra["overhead_offered_per_s"] > 0
    assert extra["phases"]["throughput"]["offered_per_s"] is None
    assert figures["p99_ms"] == extra["phases"]["overhead"]["p99_ms"]
    assert figures["payments_per_s"] == extra["phases"]["throughput"]["payments_per_s"]
    for name in ("throughput", "overhead", "latency"):
        phase = extra["phases"][name]
        assert phase["payments"] > 0, name
        answered = sum(n for outcome, n in phase["outcomes"].items() if "error" not in outcome)
        assert answered > 0, phase["outcomes"]
    assert extra["payments_vs_reference"] == pytest.approx(
        figures["payments_per_s"] / extra["reference_tps"], abs=0.001
    )

    assert chart.stat().st_size > 0
    assert "Payments benchmark on sqlite, 3 clients" in " ".join(done.stdout.split())
    # --reset wiped the merchant that was there; the benchmark's own shop is all that is left.
    names = _merchant_names(url)
    assert len(names) == 1 and names[0].startswith("Bench shop")
