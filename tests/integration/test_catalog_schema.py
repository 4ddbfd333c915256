"""Migrations on SQLite and PostgreSQL: schema created, no autogenerate diff, all-or-nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import models.tables  # noqa: F401  registers the tables on SQLModel.metadata
from models.errors import CatalogError
from storage.catalog.schema import (
    MIGRATION_ONLY_INDEXES,
    MIGRATIONS_DIR,
    head_revision,
    include_in_comparison,
)
from storage.catalog.store import Catalog

pytestmark = [
    pytest.mark.integration,
    # SQLite cannot reflect the expression indexes of migration 0009; they are left out of the
    # comparison (include_in_comparison) and checked by test_search_indexes_exist instead.
    pytest.mark.filterwarnings(
        "ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning"
    ),
]

TABLES = {
    "recordings",
    "archived_objects",
    "audit_events",
    "run_locks",
    "legal_holds",
    "legal_hold_recordings",
    "backfills",
    "deletions_in_progress",
    "erased_identities",
    "transcripts",
    "participant_words",
    "recording_totals",
    "alembic_version",
}


def _inspect(url: str) -> tuple[set[str], str | None, list[object]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_object": include_in_comparison,
                },
            )
            revision = context.get_current_revision()
            diff = compare_metadata(context, SQLModel.metadata) if "recordings" in tables else []
    finally:
        engine.dispose()
    return tables, revision, diff


def test_open_migrates_to_head_with_no_autogenerate_diff(catalog_url: str) -> None:
    Catalog.open(catalog_url).close()

    tables, revision, diff = _inspect(catalog_url)

    assert tables == TABLES
    assert revision == head_revision()
    assert diff == []


def test_reopening_a_migrated_catalog_keeps_its_rows(catalog_url: str) -> None:
    from tests.fixtures.db import T0, make_meta

    with Catalog.open(catalog_url) as first:
        first.upsert_discovered([make_meta("r1")], at=T0, actor="test")
    with Catalog.open(catalog_url) as second, Catalog.open(catalog_url, migrate=False) as third:
        assert second.get("r1").recording_id == "r1"
        assert third.counts_by_state() == {"DISCOVERED": 1}


def test_open_without_migrating_refuses_an_empty_database(catalog_url: str) -> None:
    with pytest.raises(CatalogError, match=r"no recvault catalog at .* run recvault db upgrade"):
        Catalog.open(catalog_url, migrate=False)


def test_failed_migration_leaves_nothing_half_done(catalog_url: str) -> None:
    # An empty alembic_version (so the database looks like ours) plus a table that makes the
    # migration fail after it has already created "recordings" in the same transaction.
    path = sa.make_url(catalog_url).database
    if catalog_url.startswith("sqlite") and path:
        Path(path).parent.mkdir(parents=True)
    engine = sa.create_engine(catalog_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(sa.text("CREATE TABLE archived_objects (x INTEGER)"))
    engine.dispose()

    with pytest.raises(CatalogError) as caught:
        Catalog.open(catalog_url)

    assert "\n" not in str(caught.value)
    tables, revision, _ = _inspect(catalog_url)
    assert tables == {"alembic_version", "archived_objects"}
    assert revision is None


def test_concurrent_opens_of_a_fresh_catalog_all_succeed(catalog_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def open_it() -> None:
        barrier.wait()
        try:
            Catalog.open(catalog_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert _inspect(catalog_url)[1] == head_revision()


def test_migrations_ship_inside_the_package() -> None:
    assert MIGRATIONS_DIR.parent.parts[-2:] == ("storage", "catalog")
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("0001_*.py"))


def test_search_indexes_exist(catalog_url: str) -> None:
    Catalog.open(catalog_url).close()
    engine = sa.create_engine(catalog_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
            else:
                sql = "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
            names = set(conn.execute(sa.text(sql)).scalars())
            postgres = conn.dialect.name == "postgresql"
    finally:
        engine.dispose()
    expected = {n for n in MIGRATION_ONLY_INDEXES if postgres or not n.endswith("_pattern")}
    assert expected <= names
