"""Settlement: fees, merchant balances, payouts and reconciliation."""
