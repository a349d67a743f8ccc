"""The card vault: card and bank-account tokens, envelope encryption, the BIN table."""
