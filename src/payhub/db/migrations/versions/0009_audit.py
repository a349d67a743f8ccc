"""audit: the append-only, hash-chained audit log

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
# Every column but the three that sealing sets once.
_CONTENT = (
    "id",
    "occurred_at",
    "actor",
    "actor_role",
    "action",
    "target_type",
    "target_id",
    "source",
    "request_id",
)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=True),
        sa.Column("action", sa.String(length=120), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=True),
        sa.Column("target_id", sa.String(length=120), nullable=True),
        sa.Column("source", sa.String(length=80), nullable=True),
        sa.Column("request_id", sa.String(length=40), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("chain_index", sa.BigInteger(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "(chain_index IS NULL AND hash IS NULL) OR "
            "(chain_index IS NOT NULL AND hash IS NOT NULL)",
            name=op.f("ck_audit_events_sealed_whole"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.create_index("ix_audit_events_occurred_at_id", ["occurred_at", "id"])
        batch.create_index("ix_audit_events_target", ["target_type", "target_id"])
        batch.create_index("ix_audit_events_actor", ["actor"])
        batch.create_index("ix_audit_events_chain_index", ["chain_index"], unique=True)
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("last_index", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_chain_head_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.bulk_insert(head, [{"id": 1, "last_index": 0, "last_hash": GENESIS}])
    if op.get_bind().dialect.name == "postgresql":
        _postgres_guard()
    else:
        _sqlite_guard()


def _postgres_guard() -> None:
    changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _CONTENT)
    op.execute(
        f"""
        CREATE FUNCTION audit_events_guard() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'audit events cannot be deleted' USING ERRCODE = '55000';
            END IF;
            IF OLD.hash IS NOT NULL OR NEW.hash IS NULL OR {changed}
               OR NEW.details::text IS DISTINCT FROM OLD.details::text THEN
                RAISE EXCEPTION 'audit events are append-only: an event is sealed once, '
                                'and never changed' USING ERRCODE = '55000';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_guard()"
    )


def _sqlite_guard() -> None:
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in (*_CONTENT, "details"))
    op.execute(
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit events cannot be deleted'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_events_seal_once BEFORE UPDATE ON audit_events "
        f"WHEN OLD.hash IS NOT NULL OR NEW.hash IS NULL OR {changed} "
        "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_guard()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
        op.execute("DROP TRIGGER IF EXISTS audit_events_seal_once")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index("ix_audit_events_chain_index")
        batch.drop_index("ix_audit_events_actor")
        batch.drop_index("ix_audit_events_target")
        batch.drop_index("ix_audit_events_occurred_at_id")
    op.drop_table("audit_events")
