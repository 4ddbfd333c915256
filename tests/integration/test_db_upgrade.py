"""Read-only commands never migrate or create a catalog; ``recvault db upgrade`` does."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from storage.catalog.schema import alembic_config, head_revision
from tests.fixtures.archive import RunEnv

pytestmark = pytest.mark.integration


def _revision(path: Path) -> str | None:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def test_read_only_commands_ask_for_db_upgrade_and_create_nothing(tmp_path: Path) -> None:
    path = tmp_path / "data" / "recvault.db"
    env = RunEnv({"RECVAULT_DATA_DIR": str(tmp_path / "data")})

    missing = env.cli("catalog", "search")
    assert missing.returncode == 6
    assert missing.stderr.strip().count("\n") == 0
    assert "no recvault catalog at" in missing.stderr and "recvault db upgrade" in missing.stderr
    assert not path.exists()

    # A catalog made by an older recvault (one migration behind).
    path.parent.mkdir(parents=True)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0003")
    engine.dispose()
    old = env.cli("hold", "list")
    assert old.returncode == 6
    assert "at schema revision '0003'" in old.stderr and "run recvault db upgrade" in old.stderr
    assert _revision(path) == "0003"  # untouched

    upgraded = env.cli("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert _revision(path) == head_revision()
    assert env.cli("catalog", "search", "--json").stdout.strip() == "[]"
