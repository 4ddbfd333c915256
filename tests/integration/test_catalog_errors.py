"""Bad URLs and unavailable databases give one-line recvault errors, never SQLAlchemy ones."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from models.errors import CatalogError, CatalogUnavailable, ConfigError, RecvaultError
from storage.catalog import engine as catalog_engine
from storage.catalog.store import Catalog
from tests.fixtures.db import T0, PgServer, fresh_pg_database, make_meta, sqlite_url

pytestmark = pytest.mark.integration


def _one_line(exc: RecvaultError) -> str:
    text = str(exc)
    assert "\n" not in text
    assert "sqlalchemy" not in text.lower()
    assert "Traceback" not in text
    return text


@pytest.mark.parametrize(
    "url",
    ["postgress://u@127.0.0.1/db", "postgresql+psycopg3://u@127.0.0.1/db", "mysql://u@h/db"],
    ids=["typo-backend", "typo-driver", "unsupported"],
)
def test_unknown_driver_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Catalog.open(url)
    text = _one_line(caught.value)
    assert "driver" in text
    assert "postgresql+psycopg://" in text


def test_malformed_url_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        Catalog.open("no url at all :s3cret@")
    assert "malformed database URL" in _one_line(caught.value)

    with pytest.raises(ConfigError) as caught:
        Catalog.open("postgresql+psycopg://u:s3cret@127.0.0.1:5432")
    text = _one_line(caught.value)
    assert "names no database" in text
    assert "s3cret" not in text


def test_unreachable_server_is_retryable_and_names_host_and_port() -> None:
    with pytest.raises(CatalogUnavailable) as caught:
        Catalog.open("postgresql+psycopg://postgres:pw@127.0.0.1:1/recvault")
    text = _one_line(caught.value)
    assert "127.0.0.1:1" in text
    assert "pw" not in text.split("127.0.0.1:1")[0]
    assert caught.value.retryable


@pytest.mark.postgres
def test_missing_postgres_database_says_how_to_fix_it(pg_server: PgServer) -> None:
    url = pg_server.require().set(database="recvault_no_such_db")
    with pytest.raises(ConfigError) as caught:
        Catalog.open(url.render_as_string(hide_password=False))
    text = _one_line(caught.value)
    assert "database 'recvault_no_such_db' does not exist" in text
    assert "create it or fix RECVAULT_DATABASE_URL" in text


def test_corrupt_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "recvault.db"
    garbage = b"this is not a database, it is garbage " * 200
    path.write_bytes(garbage)

    with pytest.raises(CatalogError) as caught:
        Catalog.open(sqlite_url(path))

    assert _one_line(caught.value) == (
        f"{path} is not a recvault catalog (file is not a database)"
        ": point RECVAULT_DATABASE_URL at your catalog or restore it from a backup"
    )
    assert path.read_bytes() == garbage


def test_sqlite_file_of_another_application_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()

    with pytest.raises(CatalogError, match="is not a recvault catalog") as caught:
        Catalog.open(sqlite_url(path))
    _one_line(caught.value)


def test_sqlite_parent_directory_is_created_and_wal_is_on(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "recvault.db"
    Catalog.open(sqlite_url(path)).close()

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_unwritable_sqlite_location_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError) as caught:
        Catalog.open(sqlite_url(blocker / "recvault.db"))
    assert "cannot create the catalog directory" in _one_line(caught.value)


def test_sqlite_locked_past_busy_timeout_is_catalog_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog_engine, "SQLITE_BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "recvault.db"
    with Catalog.open(sqlite_url(path)) as catalog:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(CatalogUnavailable) as caught:
                catalog.upsert_discovered([make_meta("r1")], at=T0, actor="test")
            assert "locked" in _one_line(caught.value)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert catalog.upsert_discovered([make_meta("r1")], at=T0, actor="test").new == 1


@pytest.mark.postgres
@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get("r1"),
        lambda c: c.claim(worker="w", limit=1, now=T0, lease_s=60),
        lambda c: c.upsert_discovered([make_meta("r2")], at=T0, actor="t"),
        lambda c: c.append_audit(event="run_started", actor="t", at=T0),
    ],
    ids=["get", "claim", "upsert", "append_audit"],
)
def test_postgres_going_away_mid_run_is_catalog_unavailable(
    pg_server: PgServer, call: Callable[[Catalog], object]
) -> None:
    server = pg_server.require()
    with fresh_pg_database(server) as url, Catalog.open(url) as catalog:
        catalog.upsert_discovered([make_meta("r1")], at=T0, actor="test")
        name = sa.make_url(url).database
        admin = sa.create_engine(server, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
        try:
            with pytest.raises(CatalogUnavailable) as caught:
                call(catalog)
            _one_line(caught.value)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            admin.dispose()
        # The outage is over: the same catalog object works again.
        assert catalog.get("r1").recording_id == "r1"
