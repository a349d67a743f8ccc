"""aml cases and reports: alerts, cases with their history, the report register

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_alerts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("typology", sa.String(length=200), nullable=False),
        sa.Column("subject_type", sa.String(length=10), nullable=False),
        sa.Column("subject_id", sa.String(length=80), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("explanation", sa.String(length=2000), nullable=False),
        sa.Column("transaction_ids", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('inline', 'monitoring', 'sanctions')", name=op.f("ck_risk_alerts_source")
        ),
        sa.CheckConstraint(
            "subject_type IN ('customer', 'merchant', 'account', 'card')",
            name=op.f("ck_risk_alerts_subject_type"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'in_case', 'closed')", name=op.f("ck_risk_alerts_status")
        ),
        sa.CheckConstraint("score >= 0 AND score <= 100", name=op.f("ck_risk_alerts_score")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_alerts")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_risk_alerts_dedup_key")),
    )
    op.create_index("ix_risk_alerts_status_id", "risk_alerts", ["status", "id"])
    op.create_index("ix_risk_alerts_subject_id_id", "risk_alerts", ["subject_id", "id"])
    op.create_index("ix_risk_alerts_case_id", "risk_alerts", ["case_id"])

    op.create_table(
        "risk_cases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("subject_type", sa.String(length=10), nullable=False),
        sa.Column("subject_id", sa.String(length=80), nullable=False),
        sa.Column("assignee", sa.String(length=80), nullable=True),
        sa.Column("escalation", sa.BigInteger(), nullable=False),
        sa.Column("transaction_ids", sa.JSON(), nullable=False),
        sa.Column("disposition", sa.String(length=30), nullable=True),
        sa.Column("close_reason", sa.String(length=2000), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=80), nullable=True),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("opened_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_risk_cases_status")),
        sa.CheckConstraint(
            "disposition IS NULL OR disposition IN ('false_positive', 'explained', 'duplicate', "
            "'suspicious_not_reported', 'suspicious_reported')",
            name=op.f("ck_risk_cases_disposition"),
        ),
        sa.CheckConstraint(
            "escalation >= 0 AND escalation <= 3", name=op.f("ck_risk_cases_escalation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_cases")),
    )
    op.create_index("ix_risk_cases_status_id", "risk_cases", ["status", "id"])
    op.create_index("ix_risk_cases_assignee_id", "risk_cases", ["assignee", "id"])

    op.create_table(
        "risk_case_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('created', 'assigned', 'comment', 'alert_attached', "
            "'transaction_attached', 'escalated', 'closed', 'reopened')",
            name=op.f("ck_risk_case_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["risk_cases.id"],
            name=op.f("fk_risk_case_events_case_id_risk_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_case_events")),
        sa.UniqueConstraint("case_id", "seq", name="uq_risk_case_events_case_id_seq"),
    )

    op.create_table(
        "risk_reports",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("dedup_key", sa.String(length=80), nullable=False),
        sa.Column("report_date", sa.String(length=10), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=6), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("customer_count", sa.BigInteger(), nullable=False),
        sa.Column("csv", sa.Text(), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("csv_sha256", sa.String(length=64), nullable=False),
        sa.Column("xml_sha256", sa.String(length=64), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generated_by", sa.String(length=80), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filed_by", sa.String(length=80), nullable=True),
        sa.Column("filing_reference", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "kind IN ('large_value', 'suspicious')", name=op.f("ck_risk_reports_kind")
        ),
        sa.CheckConstraint("status IN ('draft', 'filed')", name=op.f("ck_risk_reports_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_reports")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_risk_reports_dedup_key")),
    )
    op.create_index("ix_risk_reports_kind_id", "risk_reports", ["kind", "id"])
    op.create_index("ix_risk_reports_case_id", "risk_reports", ["case_id"])


def downgrade() -> None:
    op.drop_table("risk_reports")
    op.drop_table("risk_case_events")
    op.drop_table("risk_cases")
    op.drop_table("risk_alerts")
