"""Payouts (withdrawals) of merchants, suppliers and group leaders to their bank accounts."""
