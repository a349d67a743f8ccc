"""payments: the channel operation in flight, and the recorded decision

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("in_flight_attempt_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("decision", sa.JSON(), nullable=True))
        batch.create_index("ix_payments_in_flight_attempt_id", ["in_flight_attempt_id"])
        batch.create_index("ix_payments_merchant_id_status_id", ["merchant_id", "status", "id"])
    with op.batch_alter_table("refunds") as batch:
        batch.create_index("ix_refunds_merchant_id_id", ["merchant_id", "id"])


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.drop_index("ix_refunds_merchant_id_id")
    with op.batch_alter_table("payments") as batch:
        batch.drop_index("ix_payments_merchant_id_status_id")
        batch.drop_index("ix_payments_in_flight_attempt_id")
        batch.drop_column("decision")
        batch.drop_column("in_flight_attempt_id")
