"""Alembic migrations of the ledger schema (packaged as ``provenance.migrations``)."""
