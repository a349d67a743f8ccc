"""Report rows: a reported transaction with its customer's identity, masked.

A report names the customer by PayHub id and shows enough of the name and phone for the
regulator to match them (the first character of each word of the name, the first three
and last four digits of the phone), never the whole. A card appears by its vault token
only; every text field is also passed through the card-number mask, so even a card number
typed into a name cannot reach a file.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from payhub.core.logging import mask_card_numbers

COLUMNS = (
    "customer_id",
    "customer_type",
    "customer_name",
    "customer_phone",
    "category",
    "direction",
    "transaction_id",
    "movement_id",
    "time",
    "amount",
    "currency",
    "counterparty_type",
    "counterparty_id",
    "counterparty_name",
    "day_total",
)


@dataclass(frozen=True, slots=True)
class ReportRow:
    customer_id: str
    customer_type: str
    customer_name: str
    customer_phone: str
    category: str
    direction: str
    transaction_id: str
    movement_id: str
    time: str  # RFC 3339, UTC
    amount: int  # minor units
    currency: str
    counterparty_type: str
    counterparty_id: str
    counterparty_name: str
    day_total: int | None  # large-value reports: the cumulated total that put it there

    def cleaned(self) -> ReportRow:
        """The row with every text field passed through the card-number mask."""
        changes: dict[str, Any] = {
            f.name: mask_card_numbers(value)
            for f in fields(self)
            if isinstance(value := getattr(self, f.name), str)
        }
        return replace(self, **changes)


def mask_name(name: str | None) -> str:
    """王小明 → 王**; Jane Doe → J*** D**."""
    if not name:
        return ""
    return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split())


def mask_phone(phone: str | None) -> str:
    """+8613812345678 → +86138****5678; short numbers keep only their last two digits."""
    if not phone:
        return ""
    if len(phone) >= 11:
        return phone[:-8] + "****" + phone[-4:]
    return "*" * max(len(phone) - 2, 0) + phone[-2:]
