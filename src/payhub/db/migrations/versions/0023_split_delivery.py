"""split batches: how their payouts reach the bank (rail calls or a bank file)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("split_batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("delivery", sa.String(length=10), server_default="rails", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_split_batches_delivery"), "delivery IN ('rails', 'bank_file')"
        )


def downgrade() -> None:
    with op.batch_alter_table("split_batches", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_split_batches_delivery"), type_="check")
        batch_op.drop_column("delivery")
