"""`payhub keys rotate | data-keys | reencrypt | retire | destroy`: the vault's data keys.

These join `payhub keys` next to the API-key commands. Nothing here prints key material:
only versions, algorithms, states and row counts.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from payhub.clikit import console, in_transaction, run_db, when
from payhub.core.config import get_settings
from payhub.core.cryptosuite import Aead
from payhub.db.session import Database
from payhub.vault import keys, reencrypt
from payhub.vault.keys import DataKeyInfo


def _after_rotation(info: DataKeyInfo) -> str:
    return (
        f"Data key version {info.version} ({info.algorithm}) is active. Older keys are "
        "retiring: the worker moves their rows in the background, or run "
        "`payhub keys reencrypt`."
    )


def rotate(
    algorithm: Annotated[
        Aead | None,
        typer.Option(help="The new key's algorithm (default: the configured suite's)."),
    ] = None,
) -> None:
    """Make a new active data key; the previous one turns retiring."""
    info = in_transaction(lambda s: keys.rotate(s, algorithm))
    console.print(_after_rotation(info))


def data_keys() -> None:
    """The vault's data keys: version, algorithm, state and how many rows each encrypts."""
    infos = in_transaction(keys.list_data_keys)
    table = Table(title="Vault data keys")
    for column in ("version", "algorithm", "state", "rows", "created", "deactivated", "destroyed"):
        table.add_column(column)
    for k in infos:
        table.add_row(
            str(k.version),
            k.algorithm,
            k.state,
            str(k.rows),
            when(k.created_at),
            when(k.deactivated_at),
            when(k.destroyed_at),
        )
    console.print(table)
    settings = get_settings()
    suite_cipher = keys.suite_algorithm().value
    console.print(
        f"Suite: {settings.crypto_suite.value} ({suite_cipher}); master key from: "
        f"{settings.vault_master_key_provider}"
    )
    active = [k for k in infos if k.state == keys.ACTIVE]
    if active and active[0].algorithm != suite_cipher:
        console.print(
            f"[yellow]The active key is {active[0].algorithm}, not the suite's "
            f"{suite_cipher}:[/] run `payhub keys rotate`."
        )


def reencrypt_command(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 200,
) -> None:
    """Move every stored number to the active data key now (and re-fingerprint rows made
    under the other suite), a batch per transaction, with a progress bar. Reads go on."""

    async def go(db: Database) -> reencrypt.Totals:
        total = await db.run_in_transaction(reencrypt.pending)
        with Progress(
            TextColumn("re-encrypting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("rows", total=total)
            return await reencrypt.run(
                db, limit=batch, on_batch=lambda done: progress.advance(task, done.scanned)
            )

    totals = run_db(go)
    console.print(
        f"Moved {totals.moved} rows to the active key; re-fingerprinted {totals.refingerprinted}."
    )
    if totals.failed:
        console.print(
            f"[yellow]{totals.failed} rows need attention[/] (they did not decrypt, or keep "
            "their old fingerprint as a duplicate): see the warnings in the log."
        )
        raise typer.Exit(1)


def retire(version: int) -> None:
    """Mark a retiring key retired (refused while any row is still encrypted under it)."""
    info = in_transaction(lambda s: keys.retire(s, version))
    console.print(f"Data key version {info.version} is {info.state}.")


def destroy(
    version: int,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a key's material for good (refused while any row is encrypted under it):
    nothing it encrypted — in this database or any backup — can be decrypted again."""
    if not yes:
        typer.confirm(
            f"Destroy data key version {version}? Backups made while it was in use will "
            "no longer decrypt",
            abort=True,
        )
    info = in_transaction(lambda s: keys.destroy(s, version))
    console.print(f"Data key version {info.version} is {info.state}.")


def register(keys_app: typer.Typer) -> None:
    keys_app.command("rotate")(rotate)
    keys_app.command("data-keys")(data_keys)
    keys_app.command("reencrypt")(reencrypt_command)
    keys_app.command("retire")(retire)
    keys_app.command("destroy")(destroy)
