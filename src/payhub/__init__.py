"""PayHub: the payment middle platform an internet platform and its partner bank run together."""

__version__ = "0.1.0"
