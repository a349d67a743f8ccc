"""api keys: optional request signing, and the nonces signed requests used

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("signing_algorithm", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("signing_secret", sa.LargeBinary(), nullable=True))
    op.create_table(
        "request_nonces",
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "nonce", name=op.f("pk_request_nonces")),
    )
    with op.batch_alter_table("request_nonces") as batch:
        batch.create_index("ix_request_nonces_expires_at", ["expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("request_nonces") as batch:
        batch.drop_index("ix_request_nonces_expires_at")
    op.drop_table("request_nonces")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("signing_secret")
        batch.drop_column("signing_algorithm")
