"""The audit chain on SQLite and PostgreSQL: intact, tamper-evident, unforked under concurrency."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from models.states import RecordingState
from storage.catalog.audit import canonical_body, chain_hash
from storage.catalog.store import Catalog
from tests.fixtures.db import T0, make_meta

pytestmark = pytest.mark.integration
S = RecordingState
REPO = Path(__file__).resolve().parents[2]


def _history(catalog: Catalog) -> None:
    catalog.upsert_discovered([make_meta("r1"), make_meta("r2")], at=T0, actor="t")
    catalog.transition("r1", S.READY, actor="t", event="ready", at=T0, detail={"note": "ünïcode ✓"})
    catalog.record_failure(
        "r2",
        error="503",
        retryable=True,
        at=T0,
        actor="t",
        max_attempts=3,
        retry_at=T0 + timedelta(minutes=1),
    )
    catalog.append_audit(
        event="run_finished",
        actor="run",
        at=T0 + timedelta(seconds=1),
        detail={"outcomes": {"archived": 0}, "at": T0},
    )


def _tamper(url: str, statement: str, **params: object) -> None:
    """Changes the table behind the catalog's back, as an intruder with SQL access would."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(statement), params)
    engine.dispose()


def test_chain_links_every_event_to_the_one_before(catalog: Catalog) -> None:
    _history(catalog)
    events = catalog.audit_events()

    assert [e.event for e in events] == [
        "discovered",
        "discovered",
        "ready",
        "attempt_failed",
        "run_finished",
    ]
    assert events[0].prev_hash is None
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    for e in events:
        body = canonical_body(
            at=e.at,
            recording_id=e.recording_id,
            event=e.event,
            from_state=e.from_state,
            to_state=e.to_state,
            actor=e.actor,
            detail=e.detail,
        )
        assert e.hash == chain_hash(e.prev_hash, body)
    assert catalog.verify_audit_chain() == []
    assert events[-1].detail == {"outcomes": {"archived": 0}, "at": T0.isoformat()}


def test_an_altered_row_is_detected(catalog_url: str, catalog: Catalog) -> None:
    _history(catalog)
    third = catalog.audit_events()[2]

    _tamper(catalog_url, "UPDATE audit_events SET actor = 'mallory' WHERE id = :id", id=third.id)

    problems = catalog.verify_audit_chain()
    assert problems == [
        f"audit event id={third.id}: hash does not match its content (the row was altered)"
    ]


def test_an_altered_row_with_a_recomputed_hash_breaks_the_next_link(
    catalog_url: str, catalog: Catalog
) -> None:
    _history(catalog)
    events = catalog.audit_events()
    target = events[1]
    forged = chain_hash(
        target.prev_hash,
        canonical_body(
            at=target.at,
            recording_id=target.recording_id,
            event=target.event,
            from_state=target.from_state,
            to_state=target.to_state,
            actor="mallory",
            detail=target.detail,
        ),
    )

    _tamper(
        catalog_url,
        "UPDATE audit_events SET actor = 'mallory', hash = :forged WHERE id = :id",
        forged=forged,
        id=target.id,
    )

    problems = catalog.verify_audit_chain()
    assert len(problems) == 1
    assert problems[0].startswith(f"audit event id={events[2].id}: prev_hash does not match")


def test_a_removed_row_is_detected(catalog_url: str, catalog: Catalog) -> None:
    _history(catalog)
    events = catalog.audit_events()

    _tamper(catalog_url, "DELETE FROM audit_events WHERE id = :id", id=events[2].id)

    problems = catalog.verify_audit_chain()
    assert problems == [
        f"audit event id={events[3].id}: prev_hash does not match event id={events[1].id} "
        "(an event was removed or inserted)"
    ]


def test_concurrent_writers_keep_one_chain(catalog_url: str, catalog: Catalog) -> None:
    ids = [f"r{i:02d}" for i in range(30)]
    catalog.upsert_discovered([make_meta(rid) for rid in ids], at=T0, actor="t")
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def work(n: int) -> None:
        with Catalog.open(catalog_url, migrate=False) as own:
            barrier.wait()
            try:
                for rid in ids[n::3]:
                    own.transition(rid, S.READY, actor=f"w{n}", event="ready", at=T0)
                    own.append_audit(event="heartbeat", actor=f"w{n}", at=T0)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    events = catalog.audit_events()
    assert len(events) == 30 + 60
    assert len({e.prev_hash for e in events}) == len(events)  # no two events share a parent
    assert catalog.verify_audit_chain() == []


_WORKER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from storage.catalog.store import Catalog
    url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    at = datetime(2025, 3, 1, tzinfo=UTC)
    with Catalog.open(url) as catalog:
        sys.stdout.write("ready\\n")
        sys.stdout.flush()
        sys.stdin.readline()
        claimed = []
        while batch := catalog.claim(worker=name, limit=2, now=at, lease_s=600):
            for rid in batch:
                catalog.transition(rid, "READY", actor=name, event="ready", at=at, worker=name)
            claimed.extend(batch)
        for _ in range(count):
            catalog.append_audit(event="tick", actor=name, at=at)
        sys.stdout.write(",".join(claimed) + "\\n")
    """
)


@pytest.mark.slow
def test_two_processes_share_work_and_one_chain(catalog_url: str, catalog: Catalog) -> None:
    ids = [f"r{i:02d}" for i in range(24)]
    catalog.upsert_discovered([make_meta(rid) for rid in ids], at=T0, actor="t")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, catalog_url, f"p{n}", "20"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        for n in range(2)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]

    claimed = [rid for out in outputs for rid in out.strip().split(",") if rid]
    assert sorted(claimed) == ids
    assert catalog.counts_by_state() == {"READY": 24}
    assert len(catalog.audit_events()) == 24 + 24 + 40
    assert catalog.verify_audit_chain() == []
