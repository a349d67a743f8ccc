"""`payhub …`: start the platform, serve the API, migrate, manage keys, inspect the ledger,
run benchmarks."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from payhub import demo
from payhub.api import serving
from payhub.auth import service as auth
from payhub.clikit import console, errors, in_transaction, refuse, run_db, when
from payhub.core.config import get_settings
from payhub.core.cryptosuite import MAC_OF
from payhub.core.errors import PayHubError
from payhub.core.logging import configure_logging
from payhub.db.migrate import upgrade
from payhub.db.session import Database
from payhub.vault import masterkey

app = typer.Typer(help="PayHub, the payment middle platform.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys, and the card vault's data keys.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(demo_app, name="demo")
app.add_typer(bench_app, name="bench")


@app.command()
def migrate() -> None:
    """Apply the database migrations (safe to repeat)."""

    async def go(db: Database) -> None:
        await upgrade(db.engine)

    run_db(go)
    console.print(f"[green]Database is up to date[/] ({get_settings().database_url})")


@app.command()
def start(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Everything a first run needs: migrate, make the operator key, seed demo data, serve."""
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    configured = settings.operator_key.get_secret_value() if settings.operator_key else None

    async def prepare(
        db: Database,
    ) -> tuple[auth.IssuedKey | None, int | None, demo.DemoShop | None]:
        await upgrade(db.engine)

        async def tx(session: AsyncSession) -> tuple[auth.IssuedKey | None, int | None]:
            issued = await auth.ensure_operator_key(session, configured)
            seeded = None
            if settings.demo_data and not await demo.is_seeded(session):
                seeded = await demo.seed(session)
            return issued, seeded

        issued, seeded = await db.run_in_transaction(tx)
        shop = await demo.seed_shop(db) if seeded is not None else None
        return issued, seeded, shop

    issued, seeded, shop = run_db(prepare)
    lines = [f"Database: {settings.database_url}"]
    if seeded is not None:
        lines.append(f"Demo data seeded: chart of accounts and {seeded} journals.")
    if shop is not None:
        lines.extend(_shop_lines(shop))
    if issued is not None:
        lines.append(f"Operator API key (shown once, keep it): [bold yellow]{issued.secret}[/]")
    elif configured:
        lines.append("Operator API key: the one in PAYHUB_OPERATOR_KEY.")
    else:
        lines.append("Operator API key: made on the first start (see its output).")
    lines.append(f"API docs: [bold cyan]http://{host}:{port}/docs[/]")
    console.print(Panel("\n".join(lines), title="PayHub is starting", expand=False))
    serve(host=host, port=port, workers=1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API (the database must be migrated)."""
    import uvicorn

    settings = get_settings()
    for warning in settings.warnings():
        console.print(f"[yellow]warning:[/] {warning}")
    try:
        # A vault that cannot get its master key is found now, not at the first card.
        masterkey.master_key()
    except PayHubError as error:
        raise refuse(error) from None
    if workers > 1 and not settings.channels_url:
        console.print(f"[yellow]warning:[/] {SIM_PER_PROCESS}")
    host, port = host or settings.host, port or settings.port
    if workers > 1 and serving.reuse_port_supported():
        # A socket per worker: the kernel spreads connections evenly over them.
        configure_logging(settings.log_level)
        status = serving.serve_workers(host, port, workers, log_config=None, access_log=False)
        raise typer.Exit(status)
    uvicorn.run(
        serving.APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Run every job once and exit.")] = False,
) -> None:
    """Run the background jobs (hold expiry, key retention) outside the API process."""
    from payhub import jobs

    if not get_settings().channels_url:
        errors.print(f"[yellow]warning:[/] {SIM_PER_PROCESS}")
    if once:
        done = run_db(jobs.run_once)
        console.print_json(json.dumps(done))
        return
    run_db(lambda db: jobs.run_forever(db, get_settings().job_interval_seconds))


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="What the key is for.")],
    role: Annotated[str, typer.Option(help="operator or merchant.")] = "operator",
    scope: Annotated[list[str] | None, typer.Option(help="Scopes (repeat the option).")] = None,
    merchant: Annotated[str | None, typer.Option(help="Merchant id for a merchant key.")] = None,
) -> None:
    """Create an API key and print it once."""
    scopes = scope or (
        auth.OPERATOR_SCOPES if role == auth.OPERATOR else ["read", "write", "refunds"]
    )
    issued = in_transaction(
        lambda s: auth.issue_key(s, name=name, role=role, scopes=scopes, merchant_id=merchant)
    )
    console.print(f"Key {issued.id}: [bold yellow]{issued.secret}[/] (shown once)")


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key; every process refuses it from the next request on."""
    in_transaction(lambda s: auth.revoke_key(s, key_id))
    console.print(f"Key {key_id} revoked.")


@keys_app.command("roll")
def keys_roll(
    key_id: str,
    overlap: Annotated[
        int, typer.Option(min=0, max=30 * 86_400, help="Seconds the old key keeps working.")
    ] = 86_400,
) -> None:
    """Replace an API key with a new one (printed once); the old one keeps working for the
    overlap, then expires."""
    issued = in_transaction(lambda s: auth.roll_key(s, key_id, overlap=timedelta(seconds=overlap)))
    console.print(f"Key {issued.id}: [bold yellow]{issued.secret}[/] (shown once)")
    console.print(f"Key {key_id} keeps working for {overlap} s.")


@keys_app.command("signing")
def keys_signing(
    key_id: str,
    algorithm: Annotated[
        str | None, typer.Option(help="hmac-sha256 or hmac-sm3 (default: the suite's).")
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop requiring signed requests.")] = False,
) -> None:
    """Require signed requests from an API key (its signing secret is printed once), or stop."""
    if off:
        in_transaction(lambda s: auth.disable_signing(s, key_id))
        console.print(f"Key {key_id} no longer signs its requests.")
        return
    chosen = algorithm or MAC_OF[get_settings().crypto_suite].value
    made = in_transaction(lambda s: auth.enable_signing(s, key_id, algorithm=chosen))
    console.print(
        f"Key {key_id} must sign every request ({made.algorithm}). "
        f"Signing secret (shown once): [bold yellow]{made.secret}[/]"
    )


@keys_app.command("limit")
def keys_limit(
    key_id: str,
    per_second: Annotated[
        int | None, typer.Option(min=1, max=100_000, help="Requests a second per class.")
    ] = None,
) -> None:
    """Give an API key its own rate limit (reads and writes each), or without
    --per-second put it back on the deployment's defaults."""
    in_transaction(lambda s: auth.set_rate_limit(s, key_id, per_second))
    shown = f"{per_second} requests a second" if per_second else "the defaults"
    console.print(f"Key {key_id}: {shown}.")


@keys_app.command("list")
def keys_list(
    merchant: Annotated[str | None, typer.Option(help="A merchant's keys.")] = None,
) -> None:
    """The platform's keys, or a merchant's (never the keys themselves)."""
    views = in_transaction(lambda s: auth.list_keys(s, merchant_id=merchant))
    table = Table(title="API keys")
    for column in ("id", "shown as", "name", "role", "scopes", "expires", "revoked"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.id,
            v.display,
            escape(v.name),
            v.role,
            ", ".join(v.scopes),
            when(v.expires_at) if v.expires_at else "",
            when(v.revoked_at) if v.revoked_at else "",
        )
    console.print(table)


def _shop_lines(shop: demo.DemoShop) -> list[str]:
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(shop.statuses.items()))
    out = shop.money_out
    return [
        f"Demo shop: merchant {shop.merchant_id}; payments: {statuses}.",
        f"Demo shop: settled in real time with a 10% reserve; instant payout "
        f"{out.shop_payout or '-'} {out.shop_payout_status or 'not made'}.",
        f"Demo group leader: merchant {out.leader_id}; split batch {out.batch_id or '-'} "
        f"{out.batch_status or 'not made'}.",
        f"Demo shop API key (shown once): [bold yellow]{shop.key.secret}[/]",
    ]


@demo_app.command("seed")
def demo_seed() -> None:
    """Seed the demo data (ledger journals and a demo shop) into an empty database."""

    async def go(db: Database) -> tuple[int, demo.DemoShop] | None:
        async def tx(session: AsyncSession) -> int | None:
            if await demo.is_seeded(session):
                return None
            return await demo.seed(session)

        seeded = await db.run_in_transaction(tx)
        if seeded is None:
            return None
        return seeded, await demo.seed_shop(db)

    done = run_db(go)
    if done is None:
        console.print("Already seeded.")
        return
    console.print(f"Seeded {done[0]} journals.")
    for line in _shop_lines(done[1]):
        console.print(line)


SIM_PER_PROCESS = (
    "the in-process bank simulator keeps its state in each process, so a payment authorised "
    "in one process is unknown to another; with more than one process, run `payhub sim "
    "serve` and set PAYHUB_CHANNELS_URL"
)


def _register_subcommands() -> None:
    from payhub.audit.cli import audit_app
    from payhub.bench.cli import register as register_bench
    from payhub.channels.sim.cli import sim_app
    from payhub.events.cli import events_app, webhooks_app
    from payhub.iso20022.cli import iso20022_app
    from payhub.ledger.cli import ledger_app
    from payhub.merchants.cli import merchants_app
    from payhub.merchants.customers_cli import customers_app
    from payhub.payments.cli import payments_app
    from payhub.risk.cases.cli import aml_app
    from payhub.risk.decisions.cli import risk_app
    from payhub.risk.sanctions.cli import sanctions_app
    from payhub.settlement.balances.cli import settlement_app
    from payhub.settlement.fees.cli import fees_app
    from payhub.settlement.payouts.cli import payees_app, payouts_app
    from payhub.settlement.reconciliation.cli import recon_app
    from payhub.splits.cli import splits_app
    from payhub.vault.cli import cards_app
    from payhub.vault.keys_cli import register as register_data_keys

    app.add_typer(ledger_app, name="ledger")
    app.add_typer(merchants_app, name="merchants")
    app.add_typer(customers_app, name="customers")
    app.add_typer(cards_app, name="cards")
    app.add_typer(payments_app, name="payments")
    app.add_typer(webhooks_app, name="webhooks")
    app.add_typer(events_app, name="events")
    app.add_typer(sim_app, name="sim")
    app.add_typer(audit_app, name="audit")
    app.add_typer(risk_app, name="risk")
    app.add_typer(sanctions_app, name="sanctions")
    app.add_typer(aml_app, name="aml")
    app.add_typer(iso20022_app, name="iso20022")
    app.add_typer(fees_app, name="fees")
    app.add_typer(recon_app, name="recon")
    app.add_typer(settlement_app, name="settlement")
    app.add_typer(payees_app, name="payees")
    app.add_typer(payouts_app, name="payouts")
    app.add_typer(splits_app, name="splits")
    register_bench(bench_app)
    register_data_keys(keys_app)


_register_subcommands()


def main() -> None:
    app()
