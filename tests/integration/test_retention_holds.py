"""Legal holds on an Object Lock bucket: S3 legal hold ON on every version of every covered
recording, a catalog hold that blocks expiry, overlapping holds, release, and recordings
archived after the hold was placed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.retention.delete import list_versions
from flows.retention.holds import list_holds, place_hold, release_holds
from flows.retention.steps import apply_plan, plan_retention
from models.errors import ConfigError
from models.policy.rules import Policy
from simulator.scenario import Scenario
from storage.catalog.store import Catalog
from tests.fixtures.s3 import MakeStore
from tests.integration.retention_support import Clock, archive_all, retention_deps

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POLICY = Policy.loads(
    """
version = 1
[[rules]]
name = "keep-30d"
retention = "30d"
object_lock_mode = "none"
delete_source = "never"
derivative = "opus"
"""
)
SCENARIO = Scenario(
    seed=9, count=9, video_ratio=0.0, composed_ratio=0.0, legs_weights=(0.0, 0.5, 0.5)
)
START = SCENARIO.start_at


def _holds_on(deps: Any, recording_id: str) -> list[bool]:
    versions = list_versions(deps.store, deps.catalog.objects(recording_id))
    assert len(versions) == 2  # original and the opus playback copy
    return [v.legal_hold for v in versions]


def test_holds_protect_every_version_until_the_last_one_is_released(
    start_simulator: Any, make_store: MakeStore, s3_bucket: str, catalog_url: str, tmp_path: Path
) -> None:
    clock = Clock(START + timedelta(hours=3))
    store = make_store(s3_bucket)
    with start_simulator(SCENARIO) as sim, Catalog.open(catalog_url) as catalog:
        elements = sorted(sim.recordings(), key=lambda e: e["startedAt"])
        legs: dict[str, list[dict[str, Any]]] = {}
        for e in elements:
            legs.setdefault(e["conversationId"], []).append(e)
        first_conv, late_conv = next(iter(legs)), list(legs)[-1]
        customer = next(e for e in legs[first_conv] if e["participantType"] == "CUSTOMER")
        called = next(e for e in legs[first_conv] if e is not customer)
        # Archive all but the last conversation now, the last one after the holds exist.
        cut = datetime.fromtimestamp(legs[late_conv][0]["startedAt"] / 1000, UTC) - timedelta(
            seconds=1
        )
        kw: dict[str, Any] = {"catalog": catalog, "store": store, "policy": POLICY, "clock": clock}
        archive_all(sim, **kw, tmp_path=tmp_path, since=START - timedelta(hours=1), until=cut)
        with retention_deps(sim, **kw) as deps:
            by_person = place_hold(
                deps,
                scope_kind="participant",
                scope_value=customer["participantIdentity"].upper(),  # case does not matter
                reason="complaint escalated to court",
                case_ref="CASE-7",
            )
            by_call = place_hold(
                deps, scope_kind="call", scope_value=called["callId"], reason="x", case_ref="CASE-8"
            )
            for_later = place_hold(
                deps, scope_kind="conversation", scope_value=late_conv, reason="y", case_ref="C-9"
            )
            person_covered = {e["recordingId"] for e in legs[first_conv]}
            # A participant hold covers every leg of the participant's conversations.
            assert set(catalog.hold_covered_ids(by_person.hold)) == person_covered
            assert by_person.versions == 2 * len(person_covered)
            assert by_call.recordings == 1 and for_later.recordings == 0
            for rid in person_covered:
                assert _holds_on(deps, rid) == [True, True]
            with pytest.raises(ConfigError, match="--reason must not be empty"):
                place_hold(deps, scope_kind="call", scope_value="c", reason=" ", case_ref="C")

        # The last conversation arrives; the next retention run puts its objects on hold.
        archive_all(sim, **kw, tmp_path=tmp_path, since=cut, until=START + timedelta(hours=3))
        late = {e["recordingId"] for e in legs[late_conv]}
        with retention_deps(sim, **kw) as deps:
            plan = plan_retention(deps)
            assert {(j.hold_id, j.recording_id) for j in plan.holds_to_apply} == {
                (for_later.hold.id, rid) for rid in late
            }
            assert not plan.items  # nothing is due yet
            run = apply_plan(deps, plan)
            assert run.holds_applied == 2 * len(late)
            for rid in late:
                assert _holds_on(deps, rid) == [True, True]
            assert plan_retention(deps).holds_to_apply == []

            # Past retention: everything expires except what a hold covers.
            clock.set(START + timedelta(days=40))
            held = person_covered | late
            plan = plan_retention(deps)
            refused = {i.recording_id for i in plan.items if not i.proceed}
            assert refused == held
            assert all("legal hold is active" in i.reason for i in plan.items if not i.proceed)
            run = apply_plan(deps, plan)
            states = {r.recording_id: str(r.state) for r, _ in catalog.search()}
            assert {rid for rid, s in states.items() if s != "EXPIRED"} == held

            listed = list_holds(catalog)
            assert [(h["case"], h["recordings"], h["s3_held_recordings"]) for h in listed] == [
                ("CASE-7", len(person_covered), len(person_covered)),
                ("CASE-8", 1, 1),
                ("C-9", len(late), len(late)),
            ]

            # Release the person's hold: the call-held leg keeps its S3 hold.
            (report,) = release_holds(deps, str(by_person.hold.id))
            assert report.kept == 1
            call_leg = called["recordingId"]
            for rid in person_covered - {call_leg}:
                assert _holds_on(deps, rid) == [False, False]
            assert _holds_on(deps, call_leg) == [True, True]
            with pytest.raises(ConfigError, match="no active legal hold"):
                release_holds(deps, str(by_person.hold.id))
            release_holds(deps, "CASE-8")  # by case reference
            assert _holds_on(deps, call_leg) == [False, False]
            run = apply_plan(deps, plan_retention(deps))
            assert {r.recording_id for r in run.results if r.outcome == "done"} == person_covered

        # The audit log names the person only by a hash.
        events = catalog.audit_events()
        text = json.dumps([e.detail for e in events])
        assert customer["participantIdentity"] not in text
        assert customer["participantIdentity"].lower() not in text
        kinds = [e.event for e in events]
        assert kinds.count("legal_hold_placed") == 3 and kinds.count("legal_hold_released") == 2
        assert catalog.verify_audit_chain() == []


def test_a_hold_on_a_bucket_without_object_lock_never_stops_retention(
    start_simulator: Any,
    make_store: MakeStore,
    make_bucket: Any,
    catalog_url: str,
    tmp_path: Path,
) -> None:
    """Issue 9 finding 3: `hold place` on a bucket without Object Lock exited 5, the hold stayed
    in the catalog, and every later `retention apply` failed with BucketPolicyError, so no due
    expiry was carried out. The hold is placed and enforced by recvault (with a warning that
    S3 cannot hold objects there); retention goes on for everything else."""
    clock = Clock(START + timedelta(hours=3))
    store = make_store(make_bucket(object_lock=False, versioning=True))
    with start_simulator(SCENARIO) as sim, Catalog.open(catalog_url) as catalog:
        kw: dict[str, Any] = {"catalog": catalog, "store": store, "policy": POLICY, "clock": clock}
        archive_all(
            sim,
            **kw,
            tmp_path=tmp_path,
            since=START - timedelta(hours=1),
            until=START + timedelta(hours=3),
        )
        rows = [row for row, _ in catalog.search()]
        held_conv = rows[0].conversation_id or ""
        held = {r.recording_id for r in rows if r.conversation_id == held_conv}
        with retention_deps(sim, **kw) as deps:
            report = place_hold(
                deps, scope_kind="conversation", scope_value=held_conv, reason="r", case_ref="C-1"
            )
            assert report.recordings == len(held) and report.versions == 0
            assert report.s3_legal_hold.startswith("unavailable")
            clock.set(START + timedelta(days=40))
            plan = plan_retention(deps)
            assert plan.holds_to_apply == []
            assert any("no Object Lock" in note for note in plan.notes)
            run = apply_plan(deps, plan)
            assert run.ok, run.results
        states = {r.recording_id: str(r.state) for r, _ in catalog.search()}
        assert {rid for rid, s in states.items() if s != "EXPIRED"} == held
        assert len(states) - len(held) >= 5
