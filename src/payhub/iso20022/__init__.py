"""ISO 20022 bank files: pain.001 credit transfers out, pain.002 status reports and camt.053
statements in. Pure functions over bytes and plain values, validated against the official
schemas shipped in `xsd/`; no tables."""
