"""Versioned operator routing rules. A new version is a new row; rolling back activates an
older one. Only `payhub.routing.rules` reads or writes the table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base


class RoutingRuleSet(Base):
    __tablename__ = "routing_rule_sets"
    __table_args__ = (
        # At most one active version.
        Index(
            "ix_routing_rule_sets_active",
            "active",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON())
    note: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(40))  # the API key id (or "cli")
    active: Mapped[bool]
    created_at: Mapped[datetime]
