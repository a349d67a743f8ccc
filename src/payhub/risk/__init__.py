"""Risk and anti-money-laundering: the decision on every payment, screening, monitoring."""
