"""docs/trust.md's PostgreSQL grants, run as written: recvault works under the insert-only
role, and that role (and, through the trigger, even the owner) cannot change the audit log."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.catalog.store import Catalog
from tests.fixtures.db import T0, PgServer, fresh_pg_database, make_meta

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

DOC = Path(__file__).resolve().parents[2] / "docs" / "trust.md"


def _grants_sql(app: str, auditor: str, database: str) -> str:
    (block,) = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)
    block = str(block).replace("recvault_app", app).replace("recvault_auditor", auditor)
    return block.replace("ON DATABASE recvault ", f'ON DATABASE "{database}" ')


def test_the_documented_roles_keep_the_audit_log_append_only(pg_server: PgServer) -> None:
    server = pg_server.require()
    suffix = uuid.uuid4().hex[:8]
    app, auditor = f"rv_app_{suffix}", f"rv_auditor_{suffix}"
    try:
        with fresh_pg_database(server) as url:
            Catalog.open(url).close()  # the owner migrates
            owner = sa.create_engine(url, poolclass=sa.pool.NullPool)
            database = sa.engine.make_url(url).database or ""
            with owner.connect() as conn:
                driver = conn.connection.driver_connection
                assert driver is not None
                driver.execute(_grants_sql(app, auditor, database))
                driver.commit()

            as_app = sa.engine.make_url(url).update_query_dict({"options": f"-c role={app}"})
            catalog = Catalog.open(as_app.render_as_string(hide_password=False))
            try:
                catalog.upsert_discovered([make_meta("r1")], at=T0, actor="t")
                catalog.place_hold(
                    scope_kind="call", scope_value="call-r1", reason="r", case_ref="K", actor="t",
                    at=T0,
                )  # fmt: skip
                catalog.begin_deletion("r1", kind="source", holder="h", at=T0, lease_s=60)
                assert catalog.verify_audit_chain() == []
                for statement in (
                    "UPDATE audit_events SET actor = 'x'",
                    "DELETE FROM audit_events",
                    "TRUNCATE audit_events",
                ):
                    with (
                        pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
                        catalog._engine.begin() as conn,
                    ):
                        conn.execute(sa.text(statement))
            finally:
                catalog.close()
            with (
                pytest.raises(sa.exc.DatabaseError, match="append-only"),
                owner.begin() as conn,
            ):
                conn.execute(sa.text("UPDATE audit_events SET actor = 'x'"))
            owner.dispose()
    finally:
        admin = sa.create_engine(server, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for role in (app, auditor):
                conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
