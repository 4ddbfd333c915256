"""URL checks and the translation of driver errors into one-line recvault errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from models.errors import CatalogError, CatalogUnavailable, ConfigError, RecvaultError
from storage.catalog.engine import classify_error, parse_url, sqlite_writer_lock
from storage.catalog.store import Catalog


def _operational(message: str) -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, Exception(message))


PG = parse_url("postgresql+psycopg://app:secret@db.internal:6543/recvault")
SQLITE = parse_url("sqlite:////data/recvault.db")


def test_parse_url_accepts_both_backends() -> None:
    assert (PG.backend, PG.where, PG.is_sqlite) == ("postgresql", "db.internal:6543", False)
    assert "secret" not in PG.safe_url
    assert (SQLITE.backend, SQLITE.where) == ("sqlite", "/data/recvault.db")
    assert parse_url("sqlite://").sqlite_path is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "malformed database URL"),
        ("just words", "malformed database URL"),
        ("postgress://u@h/db", "unknown database driver 'postgress'"),
        ("oracle://u@h/db", "unknown database driver 'oracle'"),
        ("postgresql+psycopg://u:pw@h:5432", "names no database"),
        ("sqlite://host/file.db", "malformed SQLite URL"),
    ],
)
def test_parse_url_rejects_with_a_config_error(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_url(url)
    assert "pw" not in str(caught.value).replace("psycopg", "")


PG_CASES = [
    (
        'connection failed: connection to server at "10.0.0.5", port 6543 failed: Connection '
        "refused\n\tIs the server running on that host and accepting TCP/IP connections?",
        CatalogUnavailable,
        "catalog database db.internal:6543 is unreachable (connection refused)",
    ),
    (
        'connection failed: connection to server at "10.0.0.5", port 6543 failed: FATAL:  '
        'database "recvault" does not exist',
        ConfigError,
        "database 'recvault' does not exist: create it or fix RECVAULT_DATABASE_URL",
    ),
    (
        'connection failed: FATAL:  password authentication failed for user "app"',
        ConfigError,
        "rejected the login",
    ),
    ("connection timeout expired", CatalogUnavailable, "unreachable (timeout expired)"),
    (
        "terminating connection due to administrator command",
        CatalogUnavailable,
        "unreachable",
    ),
    ('could not translate host name "db.internal" to address', CatalogUnavailable, "resolve"),
]


@pytest.mark.parametrize(("message", "kind", "text"), PG_CASES)
def test_postgres_errors(message: str, kind: type[RecvaultError], text: str) -> None:
    error = classify_error(_operational(message), PG)
    assert type(error) is kind
    assert text in str(error)
    assert "\n" not in str(error)
    assert "secret" not in str(error)


@pytest.mark.parametrize(
    ("message", "kind", "text"),
    [
        (
            "file is not a database",
            CatalogError,
            "/data/recvault.db is not a recvault catalog (file is not a database)"
            ": point RECVAULT_DATABASE_URL at your catalog or restore it from a backup",
        ),
        ("database disk image is malformed", CatalogError, "is corrupt"),
        ("database is locked", CatalogUnavailable, "locked by another process"),
        ("unable to open database file", ConfigError, "cannot open SQLite catalog"),
    ],
)
def test_sqlite_errors(message: str, kind: type[RecvaultError], text: str) -> None:
    error = classify_error(_operational(message), SQLITE)
    assert type(error) is kind
    assert text in str(error)


def test_other_errors_stay_catalog_errors_on_one_line() -> None:
    integrity = sa.exc.IntegrityError(
        "INSERT", {}, Exception('null value in column "sha256"\nDETAIL: x')
    )
    error = classify_error(integrity, PG)
    assert type(error) is CatalogError
    assert str(error) == 'catalog database db.internal:6543: null value in column "sha256"'


def test_threads_of_one_process_queue_for_a_sqlite_file_on_one_lock(tmp_path: Path) -> None:
    """One queue per database file (however its path is spelled), none shared between files
    or with an in-memory database."""
    here = parse_url(f"sqlite:///{tmp_path / 'a.db'}")
    same = parse_url(f"sqlite:///{tmp_path / 'x' / '..' / 'a.db'}")
    other = parse_url(f"sqlite:///{tmp_path / 'b.db'}")
    memory = parse_url("sqlite://")
    assert sqlite_writer_lock(here) is sqlite_writer_lock(same)
    assert sqlite_writer_lock(here) is not sqlite_writer_lock(other)
    assert sqlite_writer_lock(memory) is not sqlite_writer_lock(memory)


def test_a_write_waits_for_the_writer_of_the_same_file_in_this_process(tmp_path: Path) -> None:
    """A second thread's write transaction starts only after the first commits (and the
    queue neither deadlocks nor lets both in)."""
    with Catalog.open(f"sqlite:///{tmp_path / 'c.db'}") as catalog:
        order: list[str] = []
        inside = threading.Event()

        def first() -> None:
            with catalog._tx(write=True):
                inside.set()
                time.sleep(0.2)
                order.append("first committed")

        thread = threading.Thread(target=first)
        thread.start()
        inside.wait(5)
        with catalog._tx(write=True):
            order.append("second began")
        thread.join(5)
        assert order == ["first committed", "second began"]
