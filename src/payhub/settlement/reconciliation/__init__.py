"""Reconciliation: channel statements matched against what PayHub recorded, breaks found,
classified, and resolved by an operator with a correcting journal."""
