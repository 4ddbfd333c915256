"""transition / record_failure / defer on SQLite and PostgreSQL: checked, atomic, audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from models.errors import CatalogError, CatalogLocked
from models.states import InvalidTransition, RecordingState
from models.tables import ArchivedObject
from storage.catalog import audit as catalog_audit
from storage.catalog import store as catalog_module
from storage.catalog.store import Catalog
from tests.fixtures.db import T0, make_meta

pytestmark = pytest.mark.integration
S = RecordingState


def _obj(kind: str = "original", **fields: Any) -> ArchivedObject:
    values: dict[str, Any] = {
        "kind": kind,
        "bucket": "archive",
        "key": f"recordings/2025/03/01/conv/r1/{kind}.wav",
        "version_id": "v1",
        "size_bytes": 1234,
        "sha256": "a" * 64,
        **fields,
    }
    return ArchivedObject(**values)


def _snapshot(catalog: Catalog, rid: str) -> tuple[object, ...]:
    row = catalog.get(rid)
    objects = [(o.kind, o.key, o.sha256, o.version_id) for o in catalog.objects(rid)]
    return row.model_dump(), objects, [e.hash for e in catalog.audit_events()]


@pytest.fixture
def discovered(catalog: Catalog) -> Catalog:
    catalog.upsert_discovered([make_meta("r1")], at=T0, actor="t")
    return catalog


def test_transition_updates_fields_objects_and_audit_together(discovered: Catalog) -> None:
    c = discovered
    c.transition("r1", S.READY, actor="w1", event="ready", at=T0)
    c.transition("r1", S.DOWNLOADED, actor="w1", event="downloaded", at=T0, source_sha256="b" * 64)
    at = T0 + timedelta(minutes=5)

    row = c.transition(
        "r1",
        S.UPLOADED,
        actor="w1",
        event="uploaded",
        at=at,
        objects=[_obj()],
        detail={"bytes": 1234},
        policy_rule="default",
    )

    assert (row.state, row.policy_rule, row.updated_at) == (S.UPLOADED, "default", at)
    assert row.source_sha256 == "b" * 64
    stored = c.get("r1")
    assert (stored.state, stored.policy_rule) == (S.UPLOADED, "default")
    assert [(o.kind, o.size_bytes, o.recording_id) for o in c.objects("r1")] == [
        ("original", 1234, "r1")
    ]
    last = c.audit_events("r1")[-1]
    assert (last.event, last.from_state, last.to_state, last.actor, last.detail) == (
        "uploaded",
        "DOWNLOADED",
        "UPLOADED",
        "w1",
        {"bytes": 1234},
    )


def test_objects_are_upserted_by_kind_in_place(discovered: Catalog) -> None:
    c = discovered
    for to in (S.READY, S.DOWNLOADED):
        c.transition("r1", to, actor="t", event=to.lower(), at=T0)
    c.transition("r1", S.UPLOADED, actor="t", event="uploaded", at=T0, objects=[_obj()])
    first_id = c.objects("r1")[0].id

    c.transition(
        "r1",
        S.UPLOADED,
        actor="t",
        event="transcoded",
        at=T0,
        objects=[_obj(version_id="v2", sha256="c" * 64), _obj("transcoded", size_bytes=99)],
    )

    objects = {o.kind: o for o in c.objects("r1")}
    assert set(objects) == {"original", "transcoded"}
    assert (objects["original"].id, objects["original"].version_id) == (first_id, "v2")
    assert objects["original"].sha256 == "c" * 64
    assert objects["transcoded"].size_bytes == 99


@pytest.mark.parametrize(
    ("path", "bad"),
    [((), S.ARCHIVED), ((), S.DOWNLOADED), ((S.READY,), S.UPLOADED), ((S.FAILED,), S.READY)],
)
def test_invalid_transitions_are_rejected_with_nothing_written(
    discovered: Catalog, path: tuple[RecordingState, ...], bad: RecordingState
) -> None:
    c = discovered
    for to in path:
        c.transition("r1", to, actor="t", event=to.lower(), at=T0)
    before = _snapshot(c, "r1")

    with pytest.raises(InvalidTransition):
        c.transition("r1", bad, actor="t", event="bad", at=T0, objects=[_obj()], attempts=7)

    assert _snapshot(c, "r1") == before


def test_same_state_transition_updates_fields_and_audits(discovered: Catalog) -> None:
    row = discovered.transition(
        "r1",
        S.DISCOVERED,
        actor="t",
        event="preparation_checked",
        at=T0,
        preparation_status="PREPARING",
    )
    assert (row.state, row.preparation_status) == (S.DISCOVERED, "PREPARING")
    last = discovered.audit_events("r1")[-1]
    assert (last.event, last.from_state, last.to_state) == (
        "preparation_checked",
        "DISCOVERED",
        "DISCOVERED",
    )


@pytest.mark.parametrize(
    "fields", [{"no_such_column": 1}, {"state": "ARCHIVED"}, {"recording_id": "x"}]
)
def test_unknown_or_reserved_fields_are_rejected(
    discovered: Catalog, fields: dict[str, Any]
) -> None:
    before = _snapshot(discovered, "r1")
    with pytest.raises(TypeError):
        discovered.transition("r1", S.READY, actor="t", event="ready", at=T0, **fields)
    assert _snapshot(discovered, "r1") == before


def test_failure_inside_the_transaction_commits_nothing(discovered: Catalog) -> None:
    c = discovered
    before = _snapshot(c, "r1")

    # The object violates NOT NULL after the row update has already been flushed.
    with pytest.raises(CatalogError):
        c.transition("r1", S.READY, actor="t", event="ready", at=T0, objects=[_obj(sha256=None)])

    assert _snapshot(c, "r1") == before


def test_failure_while_appending_the_audit_event_commits_nothing(
    discovered: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = discovered
    before = _snapshot(c, "r1")
    real = catalog_audit.append_events

    def explode(session: Any, events: Any) -> Any:
        real(session, events)  # the audit rows are flushed, then the process "crashes"
        raise RuntimeError("power cut")

    monkeypatch.setattr(catalog_module, "append_events", explode)
    with pytest.raises(RuntimeError, match="power cut"):
        c.transition("r1", S.READY, actor="t", event="ready", at=T0, objects=[_obj()], attempts=3)
    monkeypatch.undo()

    assert _snapshot(c, "r1") == before
    assert c.verify_audit_chain() == []


def test_missing_recording_is_a_catalog_error(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="not in the catalog"):
        catalog.get("nope")
    with pytest.raises(CatalogError, match="not in the catalog"):
        catalog.transition("nope", S.READY, actor="t", event="ready", at=T0)


def test_another_workers_live_claim_blocks_changes(discovered: Catalog) -> None:
    c = discovered
    assert c.claim(worker="w1", limit=1, now=T0, lease_s=60) == ["r1"]

    with pytest.raises(CatalogLocked, match="claimed by w1"):
        c.transition("r1", S.READY, actor="w2", event="ready", at=T0, worker="w2")
    with pytest.raises(CatalogLocked):
        c.record_failure(
            "r1",
            error="x",
            retryable=True,
            at=T0,
            actor="w2",
            max_attempts=3,
            retry_at=None,
            worker="w2",
        )
    assert c.get("r1").state == S.DISCOVERED

    assert (
        c.transition("r1", S.READY, actor="w1", event="ready", at=T0, worker="w1").state == S.READY
    )
    # After the lease has ended another worker may proceed.
    later = T0 + timedelta(seconds=61)
    assert (
        c.transition("r1", S.DOWNLOADED, actor="w2", event="dl", at=later, worker="w2").state
        == S.DOWNLOADED
    )


def test_record_failure_retries_then_fails_after_max_attempts(discovered: Catalog) -> None:
    c = discovered
    c.transition("r1", S.READY, actor="t", event="ready", at=T0)
    c.claim(worker="w1", limit=1, now=T0, lease_s=60)
    retry_at = T0 + timedelta(minutes=1)

    row = c.record_failure(
        "r1",
        error="503 from source",
        retryable=True,
        at=T0,
        actor="w1",
        max_attempts=3,
        retry_at=retry_at,
        worker="w1",
        reset_to=S.DISCOVERED,
    )
    assert (row.state, row.attempts, row.next_attempt_at) == (S.DISCOVERED, 1, retry_at)
    assert (row.claimed_by, row.claimed_until, row.last_error) == (None, None, "503 from source")

    row = c.record_failure(
        "r1", error="again", retryable=True, at=T0, actor="w1", max_attempts=3, retry_at=retry_at
    )
    assert (row.state, row.attempts) == (S.DISCOVERED, 2)
    row = c.record_failure(
        "r1", error="x" * 5000, retryable=True, at=T0, actor="w1", max_attempts=3, retry_at=retry_at
    )

    assert (row.state, row.attempts, row.next_attempt_at) == (S.FAILED, 3, None)
    assert row.last_error is not None and len(row.last_error) == 2000
    events = [(e.event, e.from_state, e.to_state) for e in c.audit_events("r1")]
    assert events[-3:] == [
        ("attempt_failed", "READY", "DISCOVERED"),
        ("attempt_failed", "DISCOVERED", "DISCOVERED"),
        ("failed", "DISCOVERED", "FAILED"),
    ]
    detail = c.audit_events("r1")[-1].detail
    assert detail is not None and detail["attempts"] == 3 and len(detail["error"]) == 2000


def test_non_retryable_failure_is_final_at_once(discovered: Catalog) -> None:
    c = discovered
    for to in (S.READY, S.DOWNLOADED, S.UPLOADED):
        c.transition("r1", to, actor="t", event=to.lower(), at=T0)
    row = c.record_failure(
        "r1",
        error="bucket has no object lock",
        retryable=False,
        at=T0,
        actor="t",
        max_attempts=10,
        retry_at=T0,
    )
    assert (row.state, row.attempts) == (S.FAILED, 1)
    assert c.audit_events("r1")[-1].detail == {
        "error": "bucket has no object lock",
        "attempts": 1,
        "retryable": False,
    }


def test_defer_sets_next_attempt_without_counting_an_attempt(discovered: Catalog) -> None:
    c = discovered
    c.claim(worker="w1", limit=1, now=T0, lease_s=60)
    until = T0 + timedelta(minutes=10)

    row = c.defer(
        "r1",
        until=until,
        reason="source status IN_PROGRESS",
        at=T0,
        actor="w1",
        worker="w1",
        recording_status="IN_PROGRESS",
    )

    assert (row.state, row.attempts, row.next_attempt_at) == (S.DISCOVERED, 0, until)
    assert (row.claimed_by, row.recording_status) == (None, "IN_PROGRESS")
    last = c.audit_events("r1")[-1]
    assert last.event == "deferred"
    assert last.detail == {"reason": "source status IN_PROGRESS", "until": until.isoformat()}
    assert c.claim(worker="w2", limit=5, now=T0 + timedelta(minutes=9), lease_s=60) == []
    assert c.claim(worker="w2", limit=5, now=until, lease_s=60) == ["r1"]
