"""Group-leader split payouts (分账): one batch instruction, many receivers."""
