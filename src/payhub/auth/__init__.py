"""API keys: hashed at rest, bound to the operator or one merchant, with scopes."""
