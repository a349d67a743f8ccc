"""The double-entry ledger: accounts, balanced immutable journals, two-phase holds, balances."""
