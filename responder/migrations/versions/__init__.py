"""Alembic revisions of the responder schema, oldest first (Alembic ignores this file)."""
