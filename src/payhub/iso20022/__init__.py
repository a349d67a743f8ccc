"""ISO 20022 bank files: pain.001 credit transfer files, pain.002 status reports and camt.053
statements, written and read as pure functions over bytes and plain values, validated
against the official schemas shipped in `xsd/`; no tables."""
