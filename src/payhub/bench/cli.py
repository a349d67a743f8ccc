"""`payhub bench …` commands."""

from __future__ import annotations

import typer


def register(bench_app: typer.Typer) -> None:
    from payhub.bench.aml import aml_command
    from payhub.bench.ledger import ledger_command
    from payhub.bench.payments import payments_command
    from payhub.bench.risk import risk_command
    from payhub.bench.routing import routing_command
    from payhub.bench.settlement import settlement_command
    from payhub.bench.settlement_recon import recon_command
    from payhub.bench.settlement_splits import splits_command

    bench_app.command("ledger")(ledger_command)
    bench_app.command("payments")(payments_command)
    bench_app.command("routing")(routing_command)
    bench_app.command("risk")(risk_command)
    bench_app.command("aml")(aml_command)
    bench_app.command("recon")(recon_command)
    bench_app.command("splits")(splits_command)
    bench_app.command("settlement")(settlement_command)
