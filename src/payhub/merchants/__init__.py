"""Parties: merchants (who get paid), their customers, and the merchants' API keys."""
