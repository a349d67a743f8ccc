"""Bank channels: the adapter interface every bank connector implements, and the adapters.

`payhub.channels.base` is the contract; `payhub.channels.sim` is the bank-network simulator
and its in-process adapter. The rest of PayHub reaches a bank only through an adapter.
"""
