"""Alembic migrations of the catalog, run by ``storage.catalog.schema`` (no alembic.ini needed)."""
