"""foundation: ledger, api keys, idempotency keys

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("display", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('operator', 'merchant')", name=op.f("ck_api_keys_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_merchant_id"), ["merchant_id"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('in_progress', 'completed')", name=op.f("ck_idempotency_keys_status")
        ),
        sa.PrimaryKeyConstraint("principal", "key", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=160), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("normal_side", sa.String(length=6), nullable=False),
        sa.Column("debits_must_not_exceed_credits", sa.Boolean(), nullable=False),
        sa.Column("credits_must_not_exceed_debits", sa.Boolean(), nullable=False),
        sa.Column("shards", sa.Integer(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "normal_side IN ('debit', 'credit')", name=op.f("ck_ledger_accounts_normal_side")
        ),
        sa.CheckConstraint(
            "NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)",
            name=op.f("ck_ledger_accounts_one_limit"),
        ),
        sa.CheckConstraint("shards >= 1 AND shards <= 256", name=op.f("ck_ledger_accounts_shards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("code", "currency", name="uq_ledger_accounts_code_currency"),
        sa.UniqueConstraint("id", "currency", name="uq_ledger_accounts_id_currency"),
    )
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_accounts_owner"), ["owner"], unique=False)

    op.create_table(
        "ledger_journals",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("reverses_journal_id", sa.String(length=64), nullable=True),
        sa.Column("hold_id", sa.String(length=64), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('standard', 'hold', 'hold_post', 'reversal')",
            name=op.f("ck_ledger_journals_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"],
            ["ledger_journals.id"],
            name=op.f("fk_ledger_journals_hold_id_ledger_journals"),
        ),
        sa.ForeignKeyConstraint(
            ["reverses_journal_id"],
            ["ledger_journals.id"],
            name=op.f("fk_ledger_journals_reverses_journal_id_ledger_journals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_journals")),
        sa.UniqueConstraint("hold_id", name=op.f("uq_ledger_journals_hold_id")),
        sa.UniqueConstraint(
            "reverses_journal_id", name=op.f("uq_ledger_journals_reverses_journal_id")
        ),
    )
    with op.batch_alter_table("ledger_journals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_journals_posted_at"), ["posted_at"], unique=False
        )

    op.create_table(
        "ledger_balances",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0"
            " AND credits_pending >= 0 AND credits_posted >= 0",
            name=op.f("ck_ledger_balances_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_balances_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", "shard", name=op.f("pk_ledger_balances")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("journal_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=6), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("side IN ('debit', 'credit')", name=op.f("ck_ledger_entries_side")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_entries_positive_amount")),
        sa.ForeignKeyConstraint(
            ["account_id", "currency"],
            ["ledger_accounts.id", "ledger_accounts.currency"],
            name="fk_ledger_entries_account_currency",
        ),
        sa.ForeignKeyConstraint(
            ["journal_id"],
            ["ledger_journals.id"],
            name=op.f("fk_ledger_entries_journal_id_ledger_journals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_account_id_id", ["account_id", "id"], unique=False)
        batch_op.create_index(
            "ix_ledger_entries_account_posted", ["account_id", "posted_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_journal_id"), ["journal_id"], unique=False
        )

    op.create_table(
        "ledger_holds",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("post_journal_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'posted', 'voided', 'expired')",
            name=op.f("ck_ledger_holds_status"),
        ),
        sa.ForeignKeyConstraint(
            ["id"], ["ledger_journals.id"], name=op.f("fk_ledger_holds_id_ledger_journals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_holds")),
    )
    with op.batch_alter_table("ledger_holds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_holds_pending_expiry", ["status", "expires_at"], unique=False
        )

    _create_ledger_guards()


def downgrade() -> None:
    _drop_ledger_guards()
    with op.batch_alter_table("ledger_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_holds_pending_expiry")

    op.drop_table("ledger_holds")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_journal_id"))
        batch_op.drop_index("ix_ledger_entries_account_posted")
        batch_op.drop_index("ix_ledger_entries_account_id_id")

    op.drop_table("ledger_entries")
    op.drop_table("ledger_balances")
    with op.batch_alter_table("ledger_journals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_journals_posted_at"))

    op.drop_table("ledger_journals")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_accounts_owner"))

    op.drop_table("ledger_accounts")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_expires_at"))

    op.drop_table("idempotency_keys")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_merchant_id"))

    op.drop_table("api_keys")


# The database, not only the Python code, guards the ledger: journals must balance per
# currency (checked at commit, PostgreSQL) and posted rows can never change.
_PG_GUARDS = [
    """
    CREATE FUNCTION ledger_check_journal_balanced() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        postings integer;
        bad_currency text;
    BEGIN
        -- One pass over the journal's entries: how many, and a currency that does not net
        -- to zero (if any). It runs at commit for every entry inserted.
        SELECT sum(n), min(currency) FILTER (WHERE net <> 0) INTO postings, bad_currency
        FROM (
            SELECT currency, count(*) AS n,
                   sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END) AS net
            FROM ledger_entries WHERE journal_id = NEW.journal_id
            GROUP BY currency
        ) per_currency;
        IF postings < 2 THEN
            RAISE EXCEPTION 'journal % has fewer than two postings', NEW.journal_id
                USING ERRCODE = '23514', CONSTRAINT = 'ledger_journal_balanced';
        END IF;
        IF bad_currency IS NOT NULL THEN
            RAISE EXCEPTION 'journal % does not balance in %', NEW.journal_id, bad_currency
                USING ERRCODE = '23514', CONSTRAINT = 'ledger_journal_balanced';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE CONSTRAINT TRIGGER ledger_entries_balanced
        AFTER INSERT ON ledger_entries
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION ledger_check_journal_balanced()
    """,
    """
    CREATE FUNCTION ledger_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% rows are immutable; post a reversing journal instead', TG_TABLE_NAME
            USING ERRCODE = '55000';
    END $$
    """,
    """
    CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
        FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
    """,
    """
    CREATE TRIGGER ledger_journals_immutable BEFORE UPDATE OR DELETE ON ledger_journals
        FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
    """,
]

_PG_DROP = [
    "DROP TRIGGER IF EXISTS ledger_journals_immutable ON ledger_journals",
    "DROP TRIGGER IF EXISTS ledger_entries_immutable ON ledger_entries",
    "DROP TRIGGER IF EXISTS ledger_entries_balanced ON ledger_entries",
    "DROP FUNCTION IF EXISTS ledger_refuse_change()",
    "DROP FUNCTION IF EXISTS ledger_check_journal_balanced()",
]


def _sqlite_guards() -> list[str]:
    statements = []
    for table in ("ledger_entries", "ledger_journals"):
        for event in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} rows are immutable'); END"
            )
    return statements


def _create_ledger_guards() -> None:
    dialect = op.get_bind().dialect.name
    statements = _PG_GUARDS if dialect == "postgresql" else _sqlite_guards()
    for statement in statements:
        op.execute(statement)


def _drop_ledger_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_DROP:
            op.execute(statement)
    else:
        for table in ("ledger_entries", "ledger_journals"):
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
