"""Risk and AML."""
