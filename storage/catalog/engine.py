"""Engines for the catalog: URL checks, SQLite set-up, and the translation of database errors.

Everything SQLAlchemy or a driver raises is turned into one line of ``models.errors`` here, so
the rest of recvault never sees a driver exception:

- ``ConfigError``: the URL is malformed, names an unknown driver, or a database that does not
  exist; the fix is in ``RECVAULT_DATABASE_URL``.
- ``CatalogUnavailable`` (retryable): the server cannot be reached right now, or SQLite stayed
  locked past the busy timeout.
- ``CatalogError``: anything else, e.g. a file that is not a SQLite database.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from models.errors import CatalogError, CatalogUnavailable, ConfigError, RecvaultError

log = logging.getLogger(__name__)

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
URL_HINT = "use sqlite:///path/to/recvault.db or postgresql+psycopg://user@host:5432/dbname"
# Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE: writers take
# the write lock up front, so two writers queue on busy_timeout instead of deadlocking.
WRITE_OPTION = "recvault_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10
# The catalog's queries are short lookups; JIT compiling the bigger ones (a count over a large
# match) costs more than it saves, tens to hundreds of milliseconds each time.
PG_OPTIONS = "-c jit=off"
# Every catalog call holds a connection for one short transaction; this covers the flows'
# worker threads without making a run open dozens of server connections.
POOL_SIZE = 8
POOL_OVERFLOW = 16

_PG_UNAVAILABLE = (
    "connection refused",
    "could not connect",
    "connection timeout",
    "timeout expired",
    "server closed the connection",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "no route to host",
    "network is unreachable",
    "connection reset",
    "consuming input failed",
    "ssl syscall error",
    "connection is closed",
    "the connection is lost",
    "could not receive data",
    "could not send data",
)


@dataclass(frozen=True)
class CatalogTarget:
    """Where the catalog lives, described without its password for messages and logs."""

    url: URL

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        db = self.url.database
        if not self.is_sqlite or not db or db == ":memory:" or db.startswith("file:"):
            return None
        return Path(db)

    @property
    def where(self) -> str:
        if self.is_sqlite:
            return str(self.sqlite_path or ":memory:")
        return f"{self.url.host or 'localhost'}:{self.url.port or 5432}"

    @property
    def safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)


def _mask_password(raw: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", raw)


def parse_url(raw: str) -> CatalogTarget:
    """Checks the URL's shape and backend without connecting."""
    try:
        url = make_url(raw)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"malformed database URL {_mask_password(raw)!r} in RECVAULT_DATABASE_URL: {URL_HINT}"
        ) from exc
    backend = url.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"unknown database driver {url.drivername!r} in RECVAULT_DATABASE_URL: {URL_HINT}"
        )
    if backend == "sqlite" and (url.host or url.username or url.port):
        raise ConfigError(
            f"malformed SQLite URL {url.render_as_string(hide_password=True)!r}: "
            "use sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    if backend == "postgresql" and not url.database:
        raise ConfigError(
            f"database URL {url.render_as_string(hide_password=True)!r} names no database: "
            "add /dbname to RECVAULT_DATABASE_URL"
        )
    return CatalogTarget(url)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy (see _sqlite_on_begin): sqlite3's own legacy
    # handling would commit implicitly before DDL and so could leave a half-migrated file.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _enable_wal(cursor)
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    # WAL is a property of the file: only the first connection to a new catalog switches it.
    # That switch can fail with "database is locked" without waiting on busy_timeout when
    # several processes open a new catalog at once, so it is retried here.
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


_WRITER_LOCKS: dict[str, threading.RLock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def sqlite_writer_lock(target: CatalogTarget) -> threading.RLock:
    """The in-process queue for one SQLite file's write lock (re-entrant: a write transaction
    opened inside another in the same thread then fails on busy_timeout as it did before,
    rather than hanging here)."""
    if target.sqlite_path is None:
        return threading.RLock()  # an in-memory database is its engine's own
    key = str(target.sqlite_path.resolve())
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(key, threading.RLock())


def _sqlite_on_begin(conn: sa.Connection) -> None:
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_catalog_engine(target: CatalogTarget) -> Engine:
    url = target.url
    try:
        if target.is_sqlite:
            path = target.sqlite_path
            if path is not None:
                _ensure_parent(path)
            kwargs: dict[str, Any] = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
            if path is None:
                # One shared connection, or every session would see its own empty database.
                kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
            engine = sa.create_engine(url, **kwargs)
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
        else:
            engine = sa.create_engine(
                url,
                pool_pre_ping=True,
                pool_size=POOL_SIZE,
                max_overflow=POOL_OVERFLOW,
                connect_args={
                    "connect_timeout": PG_CONNECT_TIMEOUT_S,
                    "options": _pg_options(url),
                },
            )
    except (sa.exc.NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"database driver {url.drivername!r} is not available: {URL_HINT}"
        ) from exc
    except sa.exc.ArgumentError as exc:
        raise ConfigError(
            f"invalid database URL {target.safe_url!r}: {_first_line(exc)}; {URL_HINT}"
        ) from exc
    return engine


def _pg_options(url: URL) -> str:
    """``PG_OPTIONS``, then any ``options`` the URL gives (connect_args would replace them;
    later settings win, so the URL can still turn JIT on)."""
    given = url.query.get("options") or ()
    return " ".join([PG_OPTIONS, *([given] if isinstance(given, str) else given)])


def _ensure_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the catalog directory {path.parent}: {exc.strerror or exc}; "
            "fix RECVAULT_DATABASE_URL or RECVAULT_DATA_DIR"
        ) from exc
    if path.is_dir():
        raise ConfigError(
            f"catalog path {path} is a directory: point RECVAULT_DATABASE_URL at a file"
        )


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _missing_database(text: str) -> str | None:
    match = re.search(r'database "([^"]+)" does not exist', text)
    return match.group(1) if match else None


def classify_error(exc: BaseException, target: CatalogTarget) -> RecvaultError:
    """Maps a SQLAlchemy/driver exception to the one-line error the user should see."""
    if isinstance(exc, sa.exc.TimeoutError):
        return CatalogUnavailable(
            f"no free connection to the catalog {target.where} in time (pool exhausted)"
        )
    full = str(getattr(exc, "orig", None) or exc)
    lowered = full.lower()
    line = _first_line(exc)
    where = target.where
    if target.is_sqlite:
        if "file is not a database" in lowered:
            return CatalogError(
                f"{where} is not a recvault catalog (file is not a database)"
                ": point RECVAULT_DATABASE_URL at your catalog or restore it from a backup"
            )
        if "malformed" in lowered:
            return CatalogError(f"{where} is corrupt ({line}): restore it from a backup")
        if "database is locked" in lowered or "database table is locked" in lowered:
            return CatalogUnavailable(
                f"SQLite catalog {where} is locked by another process (database is locked)"
            )
        if "unable to open database file" in lowered:
            return ConfigError(
                f"cannot open SQLite catalog {where} (unable to open database file): "
                "fix RECVAULT_DATABASE_URL or the directory's permissions"
            )
        if "readonly database" in lowered:
            return CatalogError(f"SQLite catalog {where} is read-only ({line})")
        return CatalogError(f"catalog {where}: {line}")
    missing = _missing_database(full)
    if missing is not None:
        return ConfigError(
            f"database {missing!r} does not exist: create it or fix RECVAULT_DATABASE_URL "
            f"(server {where})"
        )
    if "password authentication failed" in lowered or (
        "role" in lowered and "does not exist" in lowered
    ):
        return ConfigError(
            f"the catalog database on {where} rejected the login ({_strip_fatal(line)}): "
            "fix the user or password in RECVAULT_DATABASE_URL"
        )
    if "could not translate host name" in lowered or "name or service not known" in lowered:
        return CatalogUnavailable(
            f"cannot resolve the catalog database host {where}: "
            "check RECVAULT_DATABASE_URL or the DNS"
        )
    connection_lost = isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated
    if connection_lost or any(marker in lowered for marker in _PG_UNAVAILABLE):
        return CatalogUnavailable(
            f"catalog database {where} is unreachable ({_reason(lowered, line)}); "
            "is PostgreSQL running there?"
        )
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return CatalogUnavailable(f"catalog database {where} is unavailable: {_strip_fatal(line)}")
    return CatalogError(f"catalog database {where}: {_strip_fatal(line)}")


def _strip_fatal(line: str) -> str:
    return re.sub(r"^.*?(FATAL|ERROR):\s+", "", line)


def _reason(lowered: str, line: str) -> str:
    for marker in ("connection refused", "timeout expired", "no route to host"):
        if marker in lowered:
            return marker
    return _strip_fatal(line)


@contextmanager
def translate_errors(target: CatalogTarget) -> Iterator[None]:
    """Turns SQLAlchemy and driver errors raised inside into ``models.errors``."""
    try:
        yield
    except RecvaultError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        error = classify_error(exc, target)
        # Debug only: the caller decides whether this is worth a warning (the CLI prints it).
        log.debug(
            "catalog error kind=%s where=%s error=%s", type(error).__name__, target.where, error
        )
        raise error from exc
