"""Alembic migrations of the catalog, run by ``storage.catalog_schema`` (no alembic.ini needed)."""
