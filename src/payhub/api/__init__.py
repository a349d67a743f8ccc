"""HTTP: the FastAPI application, authentication, idempotency and error rendering.
Routes live in their own modules and are mounted here."""
