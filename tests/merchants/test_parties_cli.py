"""`payhub merchants …` on the real console script."""

from __future__ import annotations

from pathlib import Path

from tests.processes import fresh_database, run_payhub


def test_onboard_a_merchant_and_make_its_key(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        assert run_payhub("migrate", database_url=url, cwd=tmp_path).returncode == 0
        made = run_payhub(
            "merchants", "create", "Noodle Shop", "--per-payment-limit", "50000",
            database_url=url, cwd=tmp_path,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        merchant_id = made.stdout.split()[1].rstrip(":")
        assert merchant_id.startswith("mer_")
        listed = run_payhub("merchants", "list", database_url=url, cwd=tmp_path)
        assert merchant_id in listed.stdout and "500.00 CNY" in listed.stdout
        key = run_payhub("merchants", "key", merchant_id, database_url=url, cwd=tmp_path)
        assert key.returncode == 0, key.stderr
        assert "sk_mer_" in key.stdout
        unknown = run_payhub(
            "merchants", "key", "mer_01M8900000000000000000000A", database_url=url, cwd=tmp_path
        )
        assert unknown.returncode == 2
        assert "merchant_not_found" in unknown.stderr
        assert "Traceback" not in unknown.stderr
