"""The tamper matrix (issue 9, finding 6): each way someone with write access to the catalog
(or to an S3 legal hold) might rewrite the evidence is detected by ``recvault audit verify``
and named by its kind.

One archive is built for real (simulator over HTTP, moto's S3 server with an Object Lock
bucket, SQLite): recordings archived, source copies deleted, a legal hold placed, expiries
carried out, each run anchored. Each manipulation then gets a copy of the catalog file (the S3
one is undone afterwards), and the CLI itself is run against it. With
``RECVAULT_TAMPER_MATRIX_OUT`` (a path; not a recvault setting) the matrix is written there as
a markdown table of what ``audit verify`` printed.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, create_engine, select

from flows.audit.anchor import ANCHOR_PREFIX
from flows.retention.holds import place_hold
from flows.retention.steps import apply_plan, plan_retention
from models.policy.rules import Policy
from models.tables import AuditEvent
from recvault.cli.app import _main
from simulator.scenario import Scenario
from storage.catalog.audit import event_hash
from storage.catalog.store import Catalog
from tests.fixtures.db import sqlite_url
from tests.fixtures.s3 import AWS_TEST_ENV, MakeStore, MotoServer
from tests.integration.retention_support import Clock, archive_all, retention_deps

pytestmark = pytest.mark.integration

POLICY = Policy.loads(
    """
version = 1
[[rules]]
name = "agents"
match = { participant_type = ["AGENT"] }
retention = "30d"
object_lock_mode = "none"
delete_source = "immediately"
derivative = "none"

[[rules]]
name = "rest"
retention = "60d"
object_lock_mode = "none"
delete_source = "never"
derivative = "none"
"""
)
SCENARIO = Scenario(seed=12, count=8, video_ratio=0.0, composed_ratio=0.0)
MATRIX_OUT = os.environ.get("RECVAULT_TAMPER_MATRIX_OUT")

Tamper = Callable[[sqlite3.Connection], None]


def _ids(db: sqlite3.Connection, where: str) -> list[int]:
    return [r[0] for r in db.execute(f"SELECT id FROM audit_events WHERE {where} ORDER BY id")]  # noqa: S608


def edit_a_certificate(db: sqlite3.Connection) -> None:
    (first, *_) = _ids(db, "event = 'source_deleted'")
    db.execute("UPDATE audit_events SET actor = 'someone-else' WHERE id = ?", (first,))


def delete_an_event(db: sqlite3.Connection) -> None:
    (first, *_) = _ids(db, "event = 'legal_hold_placed'")
    db.execute("DELETE FROM audit_events WHERE id = ?", (first,))


def reorder_two_events(db: sqlite3.Connection) -> None:
    a, b = _ids(db, "event = 'source_deleted'")[:2]
    cols = "at, recording_id, event, from_state, to_state, actor, detail, prev_hash, hash"
    row_a = db.execute(f"SELECT {cols} FROM audit_events WHERE id = ?", (a,)).fetchone()  # noqa: S608
    row_b = db.execute(f"SELECT {cols} FROM audit_events WHERE id = ?", (b,)).fetchone()  # noqa: S608
    sets = ", ".join(f"{c.strip()} = ?" for c in cols.split(","))
    db.execute(f"UPDATE audit_events SET {sets} WHERE id = ?", (*row_b, a))  # noqa: S608
    db.execute(f"UPDATE audit_events SET {sets} WHERE id = ?", (*row_a, b))  # noqa: S608


def truncate_the_tail(db: sqlite3.Connection) -> None:
    # Everything from the first deletion certificate on: every hold and certificate goes.
    (first, *_) = _ids(db, "event = 'source_deleted'")
    db.execute("DELETE FROM audit_events WHERE id >= ?", (first,))


def recompute_everything(db: sqlite3.Connection) -> None:
    """Alter a certificate, then rehash the whole chain with the published algorithm."""
    (first, *_) = _ids(db, "event = 'archive_expired'")
    db.execute("UPDATE audit_events SET actor = 'nobody' WHERE id = ?", (first,))
    db.commit()
    path = db.execute("PRAGMA database_list").fetchone()[2]
    engine = create_engine(sqlite_url(Path(path)))
    with Session(engine) as session:
        prev = None
        for row in session.exec(select(AuditEvent).order_by(AuditEvent.id)):  # type: ignore[arg-type]
            row.prev_hash = prev
            row.hash = event_hash(row)
            prev = row.hash
            session.add(row)
        session.commit()
    engine.dispose()


def release_a_hold_in_the_table(db: sqlite3.Connection) -> None:
    db.execute(
        "UPDATE legal_holds SET released_at = placed_at, released_by = 'x' WHERE id = "
        "(SELECT min(id) FROM legal_holds)"
    )


def expire_without_certificate(db: sqlite3.Connection) -> None:
    db.execute(
        "UPDATE recordings SET state = 'EXPIRED' WHERE recording_id = "
        "(SELECT min(recording_id) FROM recordings WHERE state = 'ARCHIVED')"
    )


MATRIX: list[tuple[str, Tamper | None, set[str]]] = [
    ("edit a row (a certificate's actor)", edit_a_certificate, {"chain_altered"}),
    ("delete a row (the hold's placement)", delete_an_event, {"chain_broken"}),
    ("reorder two rows (two certificates swapped)", reorder_two_events, {"chain_broken"}),
    ("truncate the tail (every hold and certificate)", truncate_the_tail, {"truncated"}),
    ("recompute the whole chain after editing a certificate", recompute_everything, {"recomputed"}),
    ("release a hold in the legal_holds table", release_a_hold_in_the_table, {"holds_mismatch"}),
    ("set a recording EXPIRED without certificate", expire_without_certificate,
     {"certificate_missing", "expired_object_present"}),
    ("switch an S3 legal hold OFF", None, {"s3_legal_hold_off"}),
]  # fmt: skip


def _copy(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    b.close()
    a.close()


def test_every_manipulation_is_detected_and_named(
    start_simulator: Any,
    make_store: MakeStore,
    s3_bucket: str,
    moto_server: MotoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    start = SCENARIO.start_at
    db_path = tmp_path / "catalog.db"
    clock = Clock(start + timedelta(hours=3))
    store = make_store(s3_bucket)
    with start_simulator(SCENARIO) as sim, Catalog.open(sqlite_url(db_path)) as catalog:
        kw: dict[str, Any] = {"catalog": catalog, "store": store, "policy": POLICY, "clock": clock}
        archive_all(
            sim,
            **kw,
            tmp_path=tmp_path,
            since=start - timedelta(hours=1),
            until=start + timedelta(hours=3),
        )
        rows = [row for row, _ in catalog.search()]
        with retention_deps(sim, **kw) as deps:
            apply_plan(deps, plan_retention(deps))  # the agents' source copies
            kept = next(r for r in rows if r.participant_type != "AGENT")
            place_hold(
                deps,
                scope_kind="conversation",
                scope_value=kept.conversation_id or "",
                reason="dispute",
                case_ref="CASE-1",
            )
            clock.advance(days=61)
            run = apply_plan(deps, plan_retention(deps))  # expiries, except under the hold
            assert run.ok and run.anchor is not None and run.anchor.locked_until is not None
        held = next(o for o in catalog.objects(kept.recording_id) if o.deleted_at is None)
    anchors = [v.key for v in store.iter_versions(ANCHOR_PREFIX)]
    assert len(anchors) >= 3

    env = {
        **AWS_TEST_ENV,
        "RECVAULT_S3_BUCKET": s3_bucket,
        "RECVAULT_S3_ENDPOINT_URL": moto_server.endpoint_url,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def audit_verify(db: Path) -> tuple[int, list[str]]:
        monkeypatch.setenv("RECVAULT_DATABASE_URL", sqlite_url(db))
        capsys.readouterr()
        code = _main(["audit", "verify"])
        return code, capsys.readouterr().out.splitlines()

    code, clean = audit_verify(db_path)
    assert code == 0 and clean[-1] == "audit verify: no problems", clean
    table = ["| manipulation | `recvault audit verify` prints (exit code) |", "|---|---|"]
    for i, (name, tamper, expected) in enumerate(MATRIX):
        copy = tmp_path / f"tampered-{i}.db"
        _copy(db_path, copy)
        if tamper is not None:
            with sqlite3.connect(copy) as db:
                tamper(db)
            db.close()
        else:
            store.set_legal_hold(held.key, version_id=held.version_id, on=False)
        try:
            code, lines = audit_verify(copy)
        finally:
            if tamper is None:
                store.set_legal_hold(held.key, version_id=held.version_id, on=True)
        problems = [line for line in lines if line.startswith("PROBLEM ")]
        kinds = {line.split()[1].rstrip(":") for line in problems}
        assert code == 8 and expected <= kinds, (name, lines)
        shown = "<br>".join(line.replace("|", "\\|") for line in problems)
        table.append(f"| {name} | {shown} (exit {code}) |")
    if MATRIX_OUT:
        Path(MATRIX_OUT).write_text("\n".join(table) + "\n")
