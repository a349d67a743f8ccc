"""payouts: indexes by rail and day sent or returned, for the rails' reconciliation

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_payouts_rail_sent_at", "payouts", ["rail", "sent_at"])
    op.create_index("ix_payouts_rail_returned_at", "payouts", ["rail", "returned_at"])


def downgrade() -> None:
    op.drop_index("ix_payouts_rail_returned_at", table_name="payouts")
    op.drop_index("ix_payouts_rail_sent_at", table_name="payouts")
