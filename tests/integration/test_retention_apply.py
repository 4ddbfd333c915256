"""Retention over time, end to end: recordings archived for real (simulator over HTTP, moto's
S3 server with an Object Lock bucket, the catalog on SQLite and PostgreSQL), then a clock
driven forward through source deletion and expiry, with a legal hold in the way.

After every run the invariants are checked on the bucket and the catalog themselves: nothing
under hold or inside retention is gone, everything past retention is gone (every version) and
tombstoned, and each deletion has its certificate in an intact audit chain.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.retention.delete import recording_prefixes
from flows.retention.holds import place_hold, release_holds
from flows.retention.steps import apply_plan, effective_retain_until, plan_retention, rule_for
from models.policy.facts import RecordingFacts
from models.policy.rules import Policy
from models.tables import Recording
from simulator.scenario import Scenario
from storage.catalog.retention import TOMBSTONE_CLEARED
from storage.catalog.store import Catalog
from tests.fixtures.s3 import MakeStore
from tests.integration.retention_support import (
    Clock,
    archive_all,
    certificates,
    retention_deps,
    versions_in_bucket,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POLICY = Policy.loads(
    """
version = 1

[[rules]]
name = "agents-30d"
match = { participant_type = ["AGENT"] }
retention = "30d"
object_lock_mode = "none"
delete_source = "immediately"
derivative = "none"

[[rules]]
name = "outbound-statutory"
match = { direction = ["OUTBOUND"] }
retention = "3y"
object_lock_mode = "GOVERNANCE"
delete_source = "after:10d"
derivative = "none"
statutory = true

[[rules]]
name = "default-60d"
retention = "60d"
object_lock_mode = "none"
delete_source = "never"
derivative = "opus"
"""
)
SCENARIO = Scenario(
    seed=21,
    count=12,
    video_ratio=0.2,
    video_download_preparation=True,
    prep_delay_s=0.0,
    composed_ratio=0.0,
)
START = SCENARIO.start_at


def plan_items(plan: Any) -> list[dict[str, Any]]:
    """The plan's items through JSON, as the CLI prints them."""
    items: list[dict[str, Any]] = json.loads(json.dumps(plan.as_dict()))["items"]
    return items


class World:
    """The seeded archive plus what the test knows should be protected."""

    def __init__(self, catalog: Catalog, store: Any, clock: Clock) -> None:
        self.catalog, self.store, self.clock = catalog, store, clock
        self.held: set[str] = set()

    def rows(self) -> dict[str, Recording]:
        return {r.recording_id: r for r, _ in self.catalog.search()}

    def check_invariants(self) -> None:
        assert self.catalog.verify_audit_chain() == []
        for rid, row in self.rows().items():
            objects = self.catalog.objects(rid)
            left = [
                v for p in recording_prefixes(objects) for v in versions_in_bucket(self.store, p)
            ]
            if row.state != "EXPIRED":
                assert len(left) >= len(objects) > 0, (rid, row.state)
                assert all(o.deleted_at is None for o in objects)
                continue
            assert rid not in self.held, f"{rid} was deleted under a legal hold"
            assert left == [], f"{rid} EXPIRED but versions remain: {left}"
            (cert,) = [
                c for c in certificates(self.catalog, rid) if c["event"] == "archive_expired"
            ]
            when = datetime.fromisoformat(cert["when"])
            assert row.retain_until is not None and when >= row.retain_until
            assert row.expired_at == when
            for name in TOMBSTONE_CLEARED:
                assert getattr(row, name) is None, (rid, name)


@pytest.fixture
def world(
    start_simulator: Any, make_store: MakeStore, s3_bucket: str, catalog_url: str, tmp_path: Path
) -> Iterator[tuple[World, Any]]:
    clock = Clock(START + timedelta(hours=3))
    store = make_store(s3_bucket)
    with start_simulator(SCENARIO) as sim, Catalog.open(catalog_url) as catalog:
        archived = archive_all(
            sim,
            catalog=catalog,
            store=store,
            policy=POLICY,
            clock=clock,
            tmp_path=tmp_path,
            since=START - timedelta(hours=1),
            until=START + timedelta(hours=2),
        )
        assert archived == len(sim.recordings()) == SCENARIO.count
        yield World(catalog, store, clock), sim


def test_time_driven_retention_with_a_hold(world: tuple[World, Any]) -> None:
    w, sim = world
    catalog, store, clock = w.catalog, w.store, w.clock
    rows = w.rows()
    rule_of = {rid: rule_for_row(row) for rid, row in rows.items()}
    agents = {rid for rid, rule in rule_of.items() if rule == "agents-30d"}
    statutory = {rid for rid, rule in rule_of.items() if rule == "outbound-statutory"}
    default = {rid for rid, rule in rule_of.items() if rule == "default-60d"}
    assert agents and statutory and default, rule_of
    # Hold one conversation that has an agent leg: it must survive everything.
    held_conv = next(rows[rid].conversation_id for rid in sorted(agents))
    w.held = {rid for rid, row in rows.items() if row.conversation_id == held_conv}
    assert w.held & agents

    with retention_deps(sim, catalog=catalog, store=store, policy=POLICY, clock=clock) as deps:
        report = place_hold(
            deps,
            scope_kind="conversation",
            scope_value=held_conv or "",
            reason="litigation",
            case_ref="CASE-1",
        )
        assert report.recordings == len(w.held) and report.versions >= len(w.held)

        # Day 0: agents' source copies go at once (verified), except under the hold.
        dry = plan_retention(deps)
        real_plan = plan_retention(deps)
        assert plan_items(dry) == plan_items(real_plan)
        run = apply_plan(deps, real_plan)
        by_action = {(i.recording_id, i.action): i for i in dry.items}
        assert {rid for (rid, a), i in by_action.items() if a == "delete_source" and i.proceed} == (
            agents - w.held
        )
        # Refused (listed, audited) once due: held agents; held statutory ones are not due yet.
        assert {rid for (rid, a), i in by_action.items() if not i.proceed} == w.held & agents
        assert not any(a == "expire" for _, a in by_action)
        assert {r.recording_id for r in run.results if r.outcome == "done"} == agents - w.held
        assert sim.deleted == agents - w.held
        for rid in agents - w.held:
            row = catalog.get(rid)
            assert row.state == "SOURCE_DELETED"
            assert row.source_deleted_at == clock.now
            assert row.source_deleted_sha256 == row.source_sha256 == sim.media_sha256(rid)
            (cert,) = certificates(catalog, rid)
            assert cert["kind"] == "source_deletion" and cert["rule"] == "agents-30d"
            assert cert["verified_sha256"] == row.source_sha256 and cert["who"] == deps.actor
        w.check_invariants()

        # The same day again: nothing new, and the refusal is not audited twice.
        again = apply_plan(deps, plan_retention(deps))
        assert again.count("done") == 0
        for rid in w.held & agents:
            refusals = [e for e in catalog.audit_events(rid) if e.event.endswith("_refused")]
            assert len(refusals) == 1 and "legal hold" in (refusals[0].detail or {})["reason"]

        # Day 11: the statutory rule's source copies (after:10d).
        clock.advance(days=11)
        run = apply_plan(deps, plan_retention(deps))
        assert {r.recording_id for r in run.results if r.outcome == "done"} == statutory - w.held
        assert {r.recording_id for r in run.results if r.outcome == "refused"} == w.held & (
            agents | statutory
        )
        assert sim.deleted == (agents | statutory) - w.held
        w.check_invariants()

        # 10 March: past 30 and 60 days, inside 3 years. Dry run, then the real run.
        clock.set(datetime(2026, 3, 10, tzinfo=UTC))
        dry = plan_retention(deps)
        run = apply_plan(deps, plan_retention(deps))
        assert plan_items(dry) == plan_items(run.plan)
        expected = (agents | default) - w.held
        assert {i.recording_id for i in dry.deletions} == expected
        assert all(i.action == "expire" for i in dry.deletions)
        assert {r.recording_id for r in run.results if r.outcome == "done"} == expected
        for item in dry.deletions:
            assert item.versions and {v.key for v in item.versions} >= {
                o.key for o in catalog.objects(item.recording_id)
            }
        w.check_invariants()
        for rid in expected:
            row = catalog.get(rid)
            assert row.state == "EXPIRED"
            assert row.source_sha256 == sim.media_sha256(rid)  # the tombstone keeps the hash
            assert row.conversation_id and row.started_at and row.policy_rule == rule_of[rid]
            cert = next(c for c in certificates(catalog, rid) if c["event"] == "archive_expired")
            assert cert["rule"] == rule_of[rid] and cert["where"] == f"s3://{store.bucket}"
            assert {(o["key"], o["version_id"]) for o in cert["objects"]} == {
                (v.key, v.version_id)
                for v in next(i for i in dry.deletions if i.recording_id == rid).versions
            }
            assert all(o["sha256"] for o in cert["objects"])
        for rid in w.held:
            row = catalog.get(rid)
            assert row.state in ("ARCHIVED", "SOURCE_DELETED")
            for obj in catalog.objects(rid):
                assert store.head(obj.key, version_id=obj.version_id).legal_hold is True

        # Release the hold: S3 legal hold OFF, and the next run expires what was held.
        (released,) = release_holds(deps, "CASE-1")
        assert released.versions >= len(w.held)
        for rid in w.held:
            for obj in catalog.objects(rid):
                assert store.head(obj.key, version_id=obj.version_id).legal_hold is False
        w.held = set()
        run = apply_plan(deps, plan_retention(deps))
        held_before = {rid for rid, row in rows.items() if row.conversation_id == held_conv}
        assert {
            r.recording_id for r in run.results if r.outcome == "done" and r.action == "expire"
        } == (held_before - statutory)
        w.check_invariants()
        assert {rid for rid, row in w.rows().items() if row.state != "EXPIRED"} == statutory


def rule_for_row(row: Recording) -> str:
    return POLICY.match(RecordingFacts.from_row(row)).rule.name


def test_a_clock_ahead_of_s3_cannot_delete_locked_objects(world: tuple[World, Any]) -> None:
    """Our clock says the 3-year GOVERNANCE lock has ended; S3's (real time) says it has not.
    The bucket refuses, the recording stays whole, and the run reports the refusal."""
    w, sim = world
    rows = w.rows()
    statutory = {rid for rid, row in rows.items() if rule_for_row(row) == "outbound-statutory"}
    with retention_deps(
        sim, catalog=w.catalog, store=w.store, policy=POLICY, clock=w.clock
    ) as deps:
        rid = sorted(statutory)[0]
        row, objects = rows[rid], w.catalog.objects(rid)
        until = effective_retain_until(rule_for(deps, row), row, objects)
        assert all(o.retain_until == until and o.lock_mode == "GOVERNANCE" for o in objects)
        w.clock.set(until + timedelta(days=1))
        plan = plan_retention(deps)
        run = apply_plan(deps, plan)
    expiring = {r.recording_id: r for r in run.results if r.action == "expire"}
    assert set(expiring) >= statutory
    for rid in statutory:
        assert expiring[rid].outcome == "refused"
        assert "retained (GOVERNANCE)" in expiring[rid].detail
        assert w.catalog.get(rid).state != "EXPIRED"
    w.held = set()
    w.check_invariants()
