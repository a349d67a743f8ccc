"""Merchant settlement: settings, settlement journals, reserves, balances, channel settlement."""
