"""payment attempts: `sale`, an authorisation captured in the same message

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_WITH_SALE = "kind IN ('authorize', 'sale', 'capture', 'void', 'refund')"
_WITHOUT_SALE = "kind IN ('authorize', 'capture', 'void', 'refund')"


def upgrade() -> None:
    with op.batch_alter_table("payment_attempts") as batch:
        batch.drop_constraint(op.f("ck_payment_attempts_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_payment_attempts_kind"), _WITH_SALE)


def downgrade() -> None:
    # A sale becomes what it stands for on the way down: an approved authorisation whose
    # capture the payment's amounts already show.
    op.execute("UPDATE payment_attempts SET kind = 'authorize' WHERE kind = 'sale'")
    with op.batch_alter_table("payment_attempts") as batch:
        batch.drop_constraint(op.f("ck_payment_attempts_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_payment_attempts_kind"), _WITHOUT_SALE)
