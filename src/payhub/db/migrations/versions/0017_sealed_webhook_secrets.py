"""webhook endpoints: signing secrets sealed under the master key, no longer kept in clear

Every stored secret (the current one and the one a roll replaced) is sealed here, in the
migration's transaction, with the master key of the configuration running it — the
application's own provider — and the clear columns are dropped. Nothing is left for the
application to finish later, so no clear secret outlives the migration.

The master key is fetched only when there is a secret to seal: a new database migrates
without one. When it is needed and unavailable, the migration stops before changing
anything, saying which setting to fix. Going down opens the secrets into clear columns
again, with the same key.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from payhub.core.errors import PayHubError
from payhub.vault import master

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# Fixed here, as the sealed format is: the application opens what this seals with it.
PURPOSE = "webhook-secret"

_endpoints = sa.table(
    "webhook_endpoints",
    sa.column("id", sa.String()),
    sa.column("secret", sa.String()),
    sa.column("previous_secret", sa.String()),
    sa.column("sealed_secret", sa.LargeBinary()),
    sa.column("sealed_previous_secret", sa.LargeBinary()),
)


def _master_key_error(exc: PayHubError, direction: str) -> RuntimeError:
    # The reason names the setting at fault, never key material.
    return RuntimeError(
        f"migration 0017 {direction} the stored webhook secrets with the vault master key, "
        f"which is unavailable ({exc.message()}). Configure the master key this deployment "
        "uses (PAYHUB_VAULT_MASTER_KEY_PROVIDER and its settings) and run the migration "
        "again; nothing was changed."
    )


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_endpoints.c.id, _endpoints.c.secret, _endpoints.c.previous_secret)
    ).all()
    # Sealed before any change, so an unavailable key leaves the database as it was.
    try:
        sealed = [
            {
                "row_id": row.id,
                "sealed_secret": master.seal(PURPOSE, row.id, row.secret.encode()),
                "sealed_previous_secret": (
                    master.seal(PURPOSE, row.id, row.previous_secret.encode())
                    if row.previous_secret is not None
                    else None
                ),
            }
            for row in rows
        ]
    except PayHubError as exc:
        raise _master_key_error(exc, "seals") from None
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.add_column(sa.Column("sealed_secret", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("sealed_previous_secret", sa.LargeBinary(), nullable=True))
    if sealed:
        bind.execute(
            _endpoints.update()
            .where(_endpoints.c.id == sa.bindparam("row_id"))
            .values(
                sealed_secret=sa.bindparam("sealed_secret"),
                sealed_previous_secret=sa.bindparam("sealed_previous_secret"),
            ),
            sealed,
        )
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.alter_column("sealed_secret", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("previous_secret")
        batch.drop_column("secret")


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_endpoints.c.id, _endpoints.c.sealed_secret, _endpoints.c.sealed_previous_secret)
    ).all()
    try:
        opened = [
            {
                "row_id": row.id,
                "secret": master.open_sealed(PURPOSE, row.id, bytes(row.sealed_secret)).decode(),
                "previous_secret": (
                    master.open_sealed(PURPOSE, row.id, bytes(row.sealed_previous_secret)).decode()
                    if row.sealed_previous_secret is not None
                    else None
                ),
            }
            for row in rows
        ]
    except PayHubError as exc:
        raise _master_key_error(exc, "opens") from None
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.add_column(sa.Column("secret", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("previous_secret", sa.String(length=100), nullable=True))
    if opened:
        bind.execute(
            _endpoints.update()
            .where(_endpoints.c.id == sa.bindparam("row_id"))
            .values(
                secret=sa.bindparam("secret"),
                previous_secret=sa.bindparam("previous_secret"),
            ),
            opened,
        )
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.alter_column("secret", existing_type=sa.String(length=100), nullable=False)
        batch.drop_column("sealed_previous_secret")
        batch.drop_column("sealed_secret")
