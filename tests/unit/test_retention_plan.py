"""Planning and applying retention over a SQLite catalog and a dict-backed bucket: the exact
boundary of retain-until, what the bucket itself says, races with a new hold, half-finished
deletions, and the run lock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.retention.explain import explain_recording
from flows.retention.holds import place_hold
from flows.retention.steps import apply_plan, plan_retention, retention_lock
from models.errors import CatalogLocked
from models.policy.rules import Policy
from storage.catalog.store import Catalog
from tests.fixtures.db import sqlite_url
from tests.unit.retention_fakes import FakeStore, make_deps, seed_archived

POLICY = Policy.loads(
    """
version = 1
[[rules]]
name = "agents"
match = { participant_type = ["AGENT"] }
retention = "30d"
delete_source = "after:7d"
derivative = "none"

[[rules]]
name = "rest"
retention = "90d"
object_lock_mode = "GOVERNANCE"
derivative = "opus"
"""
)
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Catalog, FakeStore, Clock, Any, Any]]:
    clock = Clock(T0 + timedelta(hours=2))
    store = FakeStore(clock)
    with Catalog.open(sqlite_url(tmp_path / "c.db")) as catalog:
        deps, source = make_deps(catalog, store, POLICY, clock)
        yield catalog, store, clock, deps, source


def _items(plan: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(json.dumps(plan.as_dict()))["items"]
    return items


def test_expiry_happens_exactly_at_retain_until_and_not_a_microsecond_before(env: Any) -> None:
    catalog, store, clock, deps, _ = env
    seed_archived(catalog, store, "a1", started_at=T0, participantType="AGENT")
    seed_archived(
        catalog,
        store,
        "c1",
        started_at=T0,
        lock_mode="GOVERNANCE",
        retain_until=T0 + timedelta(days=90),
        derivative=True,
    )
    until = T0 + timedelta(days=30)
    clock.now = until - timedelta(microseconds=1)
    plan = plan_retention(deps)
    assert [(i.recording_id, i.action) for i in plan.deletions] == [("a1", "delete_source")]
    assert plan.waiting == 2

    clock.now = until
    dry = plan_retention(deps)
    run = apply_plan(deps, plan_retention(deps))
    assert _items(dry) == _items(run.plan)
    assert [(i.recording_id, i.action) for i in dry.deletions] == [
        ("a1", "delete_source"),
        ("a1", "expire"),
    ]
    assert [r.outcome for r in run.results] == ["done", "done"]
    row = catalog.get("a1")
    assert row.state == "EXPIRED" and row.expired_at == until and row.retain_until == until
    assert row.participant_identity is None and row.raw is None and row.filename is None
    assert row.source_sha256 and row.policy_rule is None  # not archived by steps: no rule set
    assert [k for k, _ in store.deleted] == ["recordings/x/a1/original.wav"]
    assert all(o.deleted_at == until for o in catalog.objects("a1"))
    events = [e.event for e in catalog.audit_events("a1")]
    assert events[-2:] == ["source_deleted", "archive_expired"]
    assert catalog.get("c1").state == "ARCHIVED"

    clock.now = T0 + timedelta(days=90)
    run = apply_plan(deps, plan_retention(deps))
    assert [(r.recording_id, r.outcome) for r in run.results] == [("c1", "done")]
    assert {k for k, _ in store.deleted} >= {
        "recordings/x/c1/original.wav",
        "recordings/x/c1/transcoded.wav",
    }
    # The original goes last, so a failure half-way leaves the evidence.
    assert store.deleted[-1][0] == "recordings/x/c1/original.wav"
    assert catalog.verify_audit_chain() == []


def test_the_bucket_has_the_last_word(env: Any) -> None:
    catalog, store, clock, deps, _ = env
    seed_archived(catalog, store, "held", started_at=T0, participantType="AGENT")
    seed_archived(catalog, store, "locked", started_at=T0, participantType="AGENT")
    # An S3 legal hold recvault did not place, and a bucket default retention it never saw.
    ((key, vid),) = [k for k in store.versions if "/held/" in k[0]]
    store.set_legal_hold(key, version_id=vid, on=True)
    ((key2, vid2),) = [k for k in store.versions if "/locked/" in k[0]]
    locked = store.versions[(key2, vid2)]
    locked.info = replace(
        locked.info, lock_mode="COMPLIANCE", retain_until=T0 + timedelta(days=400)
    )
    clock.now = T0 + timedelta(days=31)
    plan = plan_retention(deps)
    expiries = {i.recording_id: i for i in plan.items if i.action == "expire"}
    assert set(expiries) == {"held"} and not expiries["held"].proceed
    assert "S3 legal hold is ON" in expiries["held"].reason
    explained = explain_recording(catalog, POLICY, "locked", now=clock.now)
    assert explained["expiry"]["action"] == "delete"  # the catalog alone would say so
    run = apply_plan(deps, plan)
    assert catalog.get("locked").state == "SOURCE_DELETED"  # only the source copy went
    assert [e.event for e in catalog.audit_events("held")][-1] == "archive_expiry_refused"
    assert not any("/locked/" in k for k, _ in store.deleted)
    assert run.count("refused") == 1


def test_a_hold_placed_after_the_plan_still_wins(env: Any) -> None:
    catalog, store, clock, deps, source = env
    seed_archived(catalog, store, "r1", started_at=T0, participantType="AGENT")
    clock.now = T0 + timedelta(days=31)
    plan = plan_retention(deps)
    assert {i.action for i in plan.deletions} == {"delete_source", "expire"}
    place_hold(deps, scope_kind="call", scope_value="call-r1", reason="late", case_ref="K")
    run = apply_plan(deps, plan)
    assert [r.outcome for r in run.results] == ["refused", "refused"]
    assert all("legal hold is active" in r.detail for r in run.results)
    assert source.deleted == [] and store.deleted == []
    assert catalog.get("r1").state == "ARCHIVED"


def test_a_deletion_that_fails_half_way_leaves_evidence_and_finishes_next_run(env: Any) -> None:
    catalog, store, clock, deps, _ = env
    seed_archived(catalog, store, "r1", started_at=T0, derivative=True)
    clock.now = T0 + timedelta(days=91)
    store.fail_deletes.add("recordings/x/r1/original.wav")
    run = apply_plan(deps, plan_retention(deps))
    (result,) = run.results
    assert result.outcome == "failed" and "injected failure" in result.detail
    assert catalog.get("r1").state == "ARCHIVED"
    objects = {o.kind: o for o in catalog.objects("r1")}
    assert objects["transcoded"].deleted_at == clock.now and objects["original"].deleted_at is None
    (partial,) = [e for e in catalog.audit_events("r1") if e.event == "deletion_incomplete"]
    assert [o["kind"] for o in (partial.detail or {})["objects"]] == ["transcoded"]

    store.fail_deletes.clear()
    plan = plan_retention(deps)
    (item,) = plan.deletions
    assert [v.kind for v in item.versions] == ["original"]
    run = apply_plan(deps, plan)
    assert [r.outcome for r in run.results] == ["done"] and catalog.get("r1").state == "EXPIRED"
    assert run.ok


def test_one_deleting_run_at_a_time(env: Any) -> None:
    deps = env[3]
    with retention_lock(deps), pytest.raises(CatalogLocked, match="another retention run"):
        apply_plan(deps, plan_retention(deps))
    assert apply_plan(deps, plan_retention(deps)).ok


def test_explain_an_expired_recording_shows_its_tombstone(env: Any) -> None:
    catalog, store, clock, deps, _ = env
    seed_archived(catalog, store, "a1", started_at=T0, participantType="AGENT")
    clock.now = T0 + timedelta(days=40)
    apply_plan(deps, plan_retention(deps))
    report = explain_recording(catalog, POLICY, "a1", now=clock.now)
    assert report["state"] == "EXPIRED"
    assert report["retain_until"] == "2026-02-04T09:00:00Z"
    assert "retention ended 2026-02-04" in report["lines"][0]


def test_source_deletion_off_reports_due_and_expiry_still_works(env: Any) -> None:
    catalog, store, clock, deps, source = env
    source.unavailable = "source deletion is off (RECVAULT_SOURCE_DELETION=off)"
    seed_archived(catalog, store, "a1", started_at=T0, participantType="AGENT")
    clock.now = T0 + timedelta(days=30)
    plan = plan_retention(deps)
    due = [i for i in plan.items if i.action == "delete_source"]
    assert [(i.recording_id, i.decision) for i in due] == [("a1", "due")]
    assert due[0].reason == "due, source deletion is off (RECVAULT_SOURCE_DELETION=off)"
    assert plan.as_dict()["due"] == 1 and plan.as_dict()["refusals"] == 0
    run = apply_plan(deps, plan)
    assert [(r.action, r.outcome) for r in run.results] == [
        ("delete_source", "due"),
        ("expire", "done"),
    ]
    assert run.ok and run.as_dict()["due"] == 1
    assert source.deleted == []
    events = [e.event for e in catalog.audit_events("a1")]
    assert "source_deleted" not in events and "source_deletion_refused" not in events
    assert events[-1] == "archive_expired"


def test_source_not_configured_reports_due_instead_of_failing(env: Any) -> None:
    catalog, store, clock, deps, _ = env
    deps.sources = {}
    seed_archived(catalog, store, "a1", started_at=T0, participantType="AGENT")
    clock.now = T0 + timedelta(days=8)
    plan = plan_retention(deps)
    ((item,),) = [[i for i in plan.items if i.action == "delete_source"]]
    assert item.decision == "due" and "not configured here" in item.reason
    assert apply_plan(deps, plan).ok


def test_certificate_records_how_the_deletion_was_confirmed(env: Any) -> None:
    catalog, store, clock, deps, _ = env
    seed_archived(catalog, store, "a1", started_at=T0, participantType="AGENT")
    clock.now = T0 + timedelta(days=8)
    apply_plan(deps, plan_retention(deps))
    (event,) = [e for e in catalog.audit_events("a1") if e.event == "source_deleted"]
    assert (event.detail or {})["confirmed_by"] == "fake source forgot it"


def test_erasure_with_source_deletion_off_erases_the_archive_and_reports_the_source(
    env: Any,
) -> None:
    from flows.retention.erasure import run_erasure

    catalog, store, _clock, deps, source = env
    source.unavailable = "source deletion is off (RECVAULT_SOURCE_DELETION=off)"
    seed_archived(catalog, store, "e1", started_at=T0, participantIdentity="alice@example.com")
    run = run_erasure(deps, "alice@example.com", dry_run=False)
    ((item,), (result,)) = (run.plan.items, run.results)
    assert not item.delete_source and item.where == f"s3://{store.bucket}"
    assert "the copy at Infobip stays: due, source deletion is off" in item.reason
    assert result.outcome == "done" and result.state == "EXPIRED"
    assert source.deleted == []
