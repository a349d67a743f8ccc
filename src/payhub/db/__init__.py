"""Database access: engine, sessions, transactions with retry, the base model and migrations."""
