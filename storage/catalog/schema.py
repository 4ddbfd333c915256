"""Runs the Alembic migrations in ``storage/catalog/migrations`` programmatically (no alembic.ini).

The whole upgrade is one transaction (PostgreSQL and SQLite both have transactional DDL), so a
failure leaves the database as it was. Concurrent openers serialise on an advisory lock
(PostgreSQL) or on BEGIN IMMEDIATE (SQLite); the second one then finds the schema at head.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from models.errors import CatalogError
from storage.catalog.engine import WRITE_OPTION, CatalogTarget

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant shared by every recvault process: the key of the migration advisory lock.
_MIGRATE_LOCK_KEY = 0x7265637661756C74  # "recvault"


# Indexes only the migrations create (expression and PostgreSQL text_pattern_ops indexes,
# which the table classes cannot declare portably, and SQLite cannot reflect): a schema
# comparison leaves them out.
MIGRATION_ONLY_INDEXES = frozenset(
    {
        "ix_recordings_lower_participant_identity",
        "ix_recordings_lower_participant_name",
        "ix_recordings_lower_participant_name_pattern",
        "ix_recordings_recording_id_pattern",
        "ix_recordings_conversation_id_pattern",
        "ix_recordings_call_id_pattern",
        "ix_audit_events_recording_id_pattern",
        "ix_participant_words_word_pattern",
    }
)


def include_in_comparison(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic ``include_object``: everything but ``MIGRATION_ONLY_INDEXES``."""
    return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise CatalogError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _refuse_foreign_sqlite(connection: sa.Connection, target: CatalogTarget) -> None:
    tables = set(sa.inspect(connection).get_table_names())
    if tables and "alembic_version" not in tables:
        raise CatalogError(
            f"{target.where} is not a recvault catalog (it holds tables but no schema "
            f"revision: {', '.join(sorted(tables)[:5])})"
        )


def upgrade_to_head(engine: sa.Engine, target: CatalogTarget) -> None:
    head = head_revision()
    with engine.connect() as raw_conn:
        conn = raw_conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATE_LOCK_KEY)))
            elif target.is_sqlite:
                _refuse_foreign_sqlite(conn, target)
            before = current_revision(conn)
            if before == head:
                return
            try:
                command.upgrade(alembic_config(conn), "head")
            except CommandError as exc:
                raise CatalogError(
                    f"catalog {target.where} is at schema revision {before!r}, which this "
                    f"recvault does not know (newer recvault?): {exc}"
                ) from exc
    log.info("catalog migrated where=%s from=%s to=%s", target.where, before, head)


def missing_catalog_message(target: CatalogTarget) -> str:
    return (
        f"no recvault catalog at {target.where} yet: run recvault db upgrade (or an archive "
        "run) first, or point RECVAULT_DATABASE_URL at your catalog"
    )


def require_head(engine: sa.Engine, target: CatalogTarget) -> None:
    head = head_revision()
    with engine.connect() as conn:
        current = current_revision(conn)
    if current is None:
        raise CatalogError(missing_catalog_message(target))
    if current != head:
        raise CatalogError(
            f"catalog {target.where} is at schema revision {current!r}, this recvault needs "
            f"{head!r}: run recvault db upgrade"
        )
