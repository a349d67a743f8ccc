"""sanctions: watch lists and their versions, screenings, hits for compliance

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sanctions_list_versions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("list_name", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loaded_by", sa.String(length=80), nullable=False),
        sa.Column("rescreened_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "format IN ('csv', 'ftm')", name=op.f("ck_sanctions_list_versions_format")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sanctions_list_versions")),
    )
    with op.batch_alter_table("sanctions_list_versions") as batch:
        batch.create_index("ix_sanctions_list_versions_list_name_id", ["list_name", "id"])
    op.create_table(
        "sanctions_entries",
        sa.Column("list_name", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.String(length=200), nullable=False),
        sa.Column("version_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("entry_type", sa.String(length=12), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("birth_dates", sa.JSON(), nullable=False),
        sa.Column("program", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "entry_type IN ('person', 'organisation')", name=op.f("ck_sanctions_entries_type")
        ),
        sa.PrimaryKeyConstraint("list_name", "entry_id", name=op.f("pk_sanctions_entries")),
    )
    op.create_table(
        "sanctions_screenings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=12), nullable=False),
        sa.Column("subject_id", sa.String(length=40), nullable=True),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=12), nullable=False),
        sa.Column("screened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("list_versions", sa.JSON(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("hits", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('clear', 'potential_match')",
            name=op.f("ck_sanctions_screenings_outcome"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sanctions_screenings")),
    )
    with op.batch_alter_table("sanctions_screenings") as batch:
        batch.create_index("ix_sanctions_screenings_subject", ["subject_type", "subject_id", "id"])
    op.create_table(
        "sanctions_hits",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("screening_id", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=12), nullable=False),
        sa.Column("subject_id", sa.String(length=40), nullable=False),
        sa.Column("subject_name", sa.String(length=500), nullable=False),
        sa.Column("list_name", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.String(length=200), nullable=False),
        sa.Column("entry", sa.JSON(), nullable=False),
        sa.Column("matched_name", sa.String(length=500), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'cleared', 'confirmed')", name=op.f("ck_sanctions_hits_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sanctions_hits")),
    )
    with op.batch_alter_table("sanctions_hits") as batch:
        batch.create_index("ix_sanctions_hits_status_id", ["status", "id"])
        batch.create_index("ix_sanctions_hits_subject", ["subject_type", "subject_id"])
        batch.create_index("ix_sanctions_hits_fingerprint", ["fingerprint"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("sanctions_hits") as batch:
        batch.drop_index("ix_sanctions_hits_fingerprint")
        batch.drop_index("ix_sanctions_hits_subject")
        batch.drop_index("ix_sanctions_hits_status_id")
    op.drop_table("sanctions_hits")
    with op.batch_alter_table("sanctions_screenings") as batch:
        batch.drop_index("ix_sanctions_screenings_subject")
    op.drop_table("sanctions_screenings")
    op.drop_table("sanctions_entries")
    with op.batch_alter_table("sanctions_list_versions") as batch:
        batch.drop_index("ix_sanctions_list_versions_list_name_id")
    op.drop_table("sanctions_list_versions")
