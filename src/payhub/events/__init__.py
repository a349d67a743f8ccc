"""Events and webhooks: a transactional outbox, and signed delivery of events to endpoints."""
