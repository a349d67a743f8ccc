"""Settlement: fees, merchant balances, payouts and reconciliation on the ledger."""
