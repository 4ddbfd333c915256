"""Planning and applying retention over a SQLite catalog and a dict-backed bucket: the exact
boundary of retain-until, what the bucket itself says, races with a new hold, half-finished
deletions, and the run lock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.retention.explain import explain_recording
from flows.retention.holds import place_hold
from flows.retention.steps import apply_plan, plan_retention, retention_lock
from models.errors import CatalogLocked, StorageError
from models.policy.rules import Policy
from storage.catalog.store import Catalog
from tests.fixtures.db import sqlite_url
from tests.unit.fakes.store import FakeStore
from tests.unit.retention_fakes import make_deps, seed_archived

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


def test_a_backfilled_recording_keeps_its_archive_until_the_source_copy_is_gone(env: Any) -> None:
    """Issue 9 finding 2: source deletion is decided from whether the source copy is gone, not
    from the archive's state. Archived 60 days after the call (a backfill), rule "agents":
    retention 30d has ended at once, but delete_source after:7d is due only a week later. The
    archive used to expire first and the copy at Infobip was then never deleted."""
    catalog, store, clock, deps, source = env
    archived_at = T0 + timedelta(days=60)
    seed_archived(
        catalog, store, "late", started_at=T0, archived_at=archived_at, participantType="AGENT"
    )
    clock.now = archived_at + timedelta(days=1)
    plan = plan_retention(deps)
    assert plan.deletions == []
    (waiting,) = [i for i in plan.waiting_items if i.action == "expire"]
    assert "source copy" in waiting.reason and waiting.due_at == archived_at + timedelta(days=7)
    listed = json.loads(json.dumps(plan.as_dict()))["waiting_items"]
    assert {(i["action"], i["decision"]) for i in listed} == {
        ("delete_source", "wait"),
        ("expire", "wait"),
    }
    apply_plan(deps, plan)
    assert catalog.get("late").state == "ARCHIVED" and source.deleted == []

    clock.now = archived_at + timedelta(days=7)
    run = apply_plan(deps, plan_retention(deps))
    assert [(r.action, r.outcome) for r in run.results] == [
        ("delete_source", "done"),
        ("expire", "done"),
    ]
    assert source.deleted == ["late"] and catalog.get("late").state == "EXPIRED"


def test_an_archive_that_expired_first_still_loses_its_source_copy(env: Any) -> None:
    """Issue 9 finding 2, the data an older recvault left behind: EXPIRED while the copy at
    Infobip is still there. The source copy is past retention too, so it is deleted, with a
    certificate that says there was no archived copy left to re-verify."""
    catalog, store, clock, deps, source = env
    seed_archived(catalog, store, "old", started_at=T0, participantType="AGENT")
    clock.now = T0 + timedelta(days=31)
    (version,) = [v for k, v in store.versions.items() if "/old/" in k[0]]
    original = catalog.objects("old")[0]
    store.delete_version(original.key, version_id=original.version_id)
    catalog.record_expiry(
        "old",
        versions=[(original.key, original.version_id)],
        retain_until=T0 + timedelta(days=30),
        reason="retention ended (an older recvault)",
        at=clock.now,
        actor="old@recvault",
        event="archive_expired",
        certificate={"kind": "archive_expiry"},
    )
    assert version is not None and catalog.get("old").source_deleted_at is None
    plan = plan_retention(deps)
    (item,) = plan.deletions
    assert (item.recording_id, item.action, item.state) == ("old", "delete_source", "EXPIRED")
    run = apply_plan(deps, plan)
    assert [r.outcome for r in run.results] == ["done"] and source.deleted == ["old"]
    row = catalog.get("old")
    assert row.state == "EXPIRED" and row.source_deleted_at == clock.now
    cert = catalog.audit_events("old")[-1]
    assert cert.event == "source_deleted" and (cert.from_state, cert.to_state) == (
        "EXPIRED",
        "EXPIRED",
    )
    assert "no archived copy" in (cert.detail or {})["archive_check"]["result"]
    assert plan_retention(deps).items == []
    assert catalog.verify_audit_chain() == []


def test_the_dry_run_lists_what_waits_and_why(env: Any) -> None:
    """Issue 9 finding 11: the dry run counted waiting items but did not list them."""
    catalog, store, _clock, deps, _ = env
    seed_archived(catalog, store, "a1", started_at=T0, participantType="AGENT")
    seed_archived(catalog, store, "c1", started_at=T0)
    plan = plan_retention(deps)
    assert plan.items == [] and plan.waiting == 2
    waiting = {(i.recording_id, i.action): i for i in plan.waiting_items}
    assert set(waiting) == {("a1", "delete_source"), ("a1", "expire"), ("c1", "expire")}
    assert waiting[("a1", "delete_source")].reason.startswith("rule 'agents': due 2026-01-12")
    assert waiting[("c1", "expire")].reason == "retained until 2026-04-05 09:00Z"
    assert all(i.decision == "wait" and i.due_at for i in plan.waiting_items)


def test_no_verified_copy_no_source_deletion(env: Any) -> None:
    """Issue 9 finding 1: one archived version was removed from the bucket by hand and the
    source copy was deleted anyway, on the strength of a verification weeks old. The original
    is re-verified right before the source deletion; what was checked is in the certificate."""
    catalog, store, clock, deps, source = env
    for rid in ("gone", "changed", "fine"):
        seed_archived(catalog, store, rid, started_at=T0, participantType="AGENT")
    ((key, vid),) = [k for k in store.versions if "/gone/" in k[0]]
    del store.versions[(key, vid)]
    ((key, vid),) = [k for k in store.versions if "/changed/" in k[0]]
    store.versions[(key, vid)].info = replace(store.versions[(key, vid)].info, sha256="0" * 64)
    clock.now = T0 + timedelta(days=8)
    plan = plan_retention(deps)
    assert {i.recording_id for i in plan.deletions} == {"gone", "changed", "fine"}
    run = apply_plan(deps, plan)
    outcome = {r.recording_id: r for r in run.results}
    assert outcome["fine"].outcome == "done" and source.deleted == ["fine"]
    for rid, why in (("gone", "is missing"), ("changed", "other bytes")):
        assert outcome[rid].outcome == "failed" and not run.ok
        assert "failed re-verification" in outcome[rid].detail and why in outcome[rid].detail
        assert catalog.get(rid).state == "ARCHIVED"
        refusal = catalog.audit_events(rid)[-1]
        assert refusal.event == "source_deletion_refused"
        assert why in (refusal.detail or {})["reason"]
    cert = catalog.audit_events("fine")[-1].detail or {}
    original = catalog.objects("fine")[0]
    assert cert["archive_check"] == {
        "result": "re-verified",
        "method": "reread",
        "at": "2026-01-13T09:00:00Z",
        "bucket": store.bucket,
        "key": original.key,
        "version_id": original.version_id,
        "sha256": original.sha256,
        "size_bytes": 100,
        "recorded_verification_at": "2026-01-05T10:00:00Z",
    }
    assert (original.key, original.version_id) in store.verified


def test_a_failing_s3_hold_on_one_recording_never_stops_the_others(env: Any) -> None:
    """Issue 9 finding 3: one failure to set an S3 legal hold used to end the whole retention
    run; now it is that recording's result (exit 9), and every other due deletion is done."""
    catalog, store, clock, deps, _ = env
    for rid in ("h1", "x1", "x2"):
        seed_archived(catalog, store, rid, started_at=T0, participantType="AGENT")
    store.fail_holds.add("recordings/x/h1/original.wav")
    with pytest.raises(StorageError, match="S3 legal hold failed on 1 recording"):
        place_hold(deps, scope_kind="call", scope_value="call-h1", reason="r", case_ref="K")
    clock.now = T0 + timedelta(days=31)
    plan = plan_retention(deps)
    assert [(j.recording_id) for j in plan.holds_to_apply] == ["h1"]
    run = apply_plan(deps, plan)
    failed = [r for r in run.results if r.outcome == "failed"]
    assert [(r.recording_id, r.action) for r in failed] == [("h1", "apply_hold")]
    assert "injected legal hold failure" in failed[0].detail and not run.ok
    assert {r.recording_id for r in run.results if r.outcome == "done"} == {"x1", "x2"}
    assert catalog.get("x1").state == catalog.get("x2").state == "EXPIRED"
    assert catalog.get("h1").state == "ARCHIVED"


def test_a_hold_placed_during_a_source_deletion_waits_for_it_and_is_on_record(
    env: Any,
) -> None:
    """Issue 9 finding 5: a hold committed while a deletion was under way did not wait for it,
    and the certificate said "none active at deletion". The deletion's hold check and its
    in-progress marker are one transaction; a later hold waits for the marker, and both the
    certificate and the hold report say what happened. The expiry after it is refused."""
    catalog, store, clock, deps, source = env
    seed_archived(catalog, store, "r1", started_at=T0, participantType="AGENT")
    clock.now = T0 + timedelta(days=31)
    plan = plan_retention(deps)
    assert {i.action for i in plan.deletions} == {"delete_source", "expire"}
    reports: list[Any] = []
    placing: list[threading.Thread] = []

    def place() -> None:
        reports.append(
            place_hold(deps, scope_kind="call", scope_value="call-r1", reason="r", case_ref="K")
        )

    def during_the_call(recording: Any) -> None:
        placing.append(threading.Thread(target=place))
        placing[0].start()
        deadline = time.monotonic() + 10
        while not catalog.list_holds() and time.monotonic() < deadline:
            time.sleep(0.01)  # the hold is committed while Infobip is deleting
        time.sleep(0.3)
        assert reports == []  # ... and it waits for this deletion

    source.on_delete = during_the_call
    run = apply_plan(deps, plan)
    placing[0].join(10)
    ((hold_id,),) = [(h.id,) for h in catalog.list_holds()]
    assert [(r.action, r.outcome) for r in run.results] == [
        ("delete_source", "done"),
        ("expire", "refused"),
    ]
    assert source.deleted == ["r1"] and store.deleted == []
    (report,) = reports
    assert report.deleted_while_placing == ("r1",) and report.versions == 1
    cert = next(e for e in catalog.audit_events("r1") if e.event == "source_deleted").detail or {}
    assert cert["legal_holds"] == {
        "status": "none active",
        "active": [],
        "checked_at": "2026-02-05T09:00:00Z",
        "checked_in": "the deletion's own transaction, ordered with hold placement",
        "placed_while_deleting": [hold_id],
    }
    waited = [e for e in catalog.audit_events() if e.event == "legal_hold_waited"]
    assert [(e.detail or {})["deleted_while_placing"] for e in waited] == [["r1"]]
    assert catalog.deletions_in_progress(["r1"]) == []
    assert all(v.legal_hold for v in store.versions.values())


def test_a_hold_committed_after_the_plan_and_the_first_check_still_wins(env: Any) -> None:
    """Issue 9 finding 5, the other order: the hold is committed after the first hold check,
    while the archive is re-verified, i.e. just before the Infobip call. The check in the
    deletion's own transaction refuses it."""
    catalog, store, clock, deps, source = env
    seed_archived(catalog, store, "r1", started_at=T0, participantType="AGENT")
    clock.now = T0 + timedelta(days=8)
    verify = store.verify

    def verify_then_hold(key: str, **kw: Any) -> Any:
        result = verify(key, **kw)
        place_hold(deps, scope_kind="call", scope_value="call-r1", reason="r", case_ref="K")
        return result

    store.verify = verify_then_hold
    run = apply_plan(deps, plan_retention(deps))
    ((action, outcome, detail),) = [(r.action, r.outcome, r.detail) for r in run.results]
    assert (action, outcome) == ("delete_source", "refused") and "legal hold" in detail
    assert source.deleted == [] and catalog.get("r1").state == "ARCHIVED"
    assert catalog.deletions_in_progress(["r1"]) == []


def test_an_s3_legal_hold_switched_off_outside_recvault_is_put_back(env: Any) -> None:
    """Issue 9 finding 4: a legal hold switched OFF on a held version outside recvault was
    reported by nothing and never put back. The dry run now lists it, the run puts it back."""
    catalog, store, _clock, deps, _ = env
    seed_archived(catalog, store, "r1", started_at=T0)
    place_hold(deps, scope_kind="call", scope_value="call-r1", reason="r", case_ref="K")
    ((key, vid),) = list(store.versions)
    assert store.versions[(key, vid)].legal_hold
    assert plan_retention(deps).holds_to_apply == []
    store.set_legal_hold(key, version_id=vid, on=False)  # someone with S3 rights
    plan = plan_retention(deps)
    assert [j.recording_id for j in plan.holds_to_apply] == ["r1"]
    run = apply_plan(deps, plan)
    assert run.holds_applied == 1 and store.versions[(key, vid)].legal_hold
    assert catalog.audit_events("r1")[-1].event == "legal_hold_applied"


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
