"""Source deletion never precedes verification: only ARCHIVED recordings whose original has a
recorded verification with the downloaded hash lose their copy at Infobip; every other one is
refused, the refusal audited, and the simulator keeps the recording."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.retention.delete import delete_source_copy
from flows.retention.steps import apply_plan, plan_retention
from models.errors import PolicyError
from models.policy.rules import Policy
from models.states import RecordingState
from simulator.scenario import NotReadyFault, RecordingPick, Scenario
from storage.catalog.store import Catalog
from tests.fixtures.s3 import MakeStore
from tests.fixtures.simulator import infobip_client
from tests.integration.retention_support import Clock, archive_all, certificates, retention_deps

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POLICY = Policy.loads(
    """
version = 1
[[rules]]
name = "delete-at-once"
retention = "1y"
object_lock_mode = "none"
delete_source = "immediately"
derivative = "none"
"""
)
SCENARIO = Scenario(
    seed=5,
    count=7,
    video_ratio=0.0,
    composed_ratio=0.0,
    not_ready=NotReadyFault(recordings=RecordingPick(count=1), in_progress_listings=1000),
)
START = SCENARIO.start_at


@pytest.fixture
def archived(
    start_simulator: Any, make_store: MakeStore, s3_bucket: str, catalog_url: str, tmp_path: Path
) -> Iterator[tuple[Any, Catalog, Any, Clock]]:
    clock = Clock(START + timedelta(hours=3))
    store = make_store(s3_bucket)
    with start_simulator(SCENARIO) as sim, Catalog.open(catalog_url) as catalog:
        archive_all(
            sim,
            catalog=catalog,
            store=store,
            policy=POLICY,
            clock=clock,
            tmp_path=tmp_path,
            since=START - timedelta(hours=1),
            until=START + timedelta(hours=2),
        )
        yield sim, catalog, store, clock


def test_only_verified_archived_recordings_lose_their_source_copy(
    archived: tuple[Any, Catalog, Any, Clock],
) -> None:
    sim, catalog, store, clock = archived
    states = {row.recording_id: str(row.state) for row, _ in catalog.search()}
    (pending,) = [rid for rid, state in states.items() if state != "ARCHIVED"]
    assert states[pending] == "DISCOVERED"
    ok = sorted(rid for rid, state in states.items() if state == "ARCHIVED")
    unverified, mismatched, gone_already = ok[0], ok[1], ok[2]
    # Tamper the catalog the way a half-finished verification or a bug would leave it.
    original = next(o for o in catalog.objects(unverified) if o.kind == "original")
    original.verified_at = None
    catalog.transition(
        unverified,
        RecordingState.ARCHIVED,
        actor="test",
        event="test_tamper",
        at=clock(),
        objects=[original],
    )
    catalog.transition(
        mismatched,
        RecordingState.ARCHIVED,
        actor="test",
        event="test_tamper",
        at=clock(),
        source_sha256="0" * 64,
    )
    # Deleted at Infobip already: the DELETE answers 404, and only the metadata read back
    # (deletedAt) confirms it; the certificate says how it was confirmed.
    with infobip_client(sim) as client:
        client.delete_recording(gone_already)

    with retention_deps(sim, catalog=catalog, store=store, policy=POLICY, clock=clock) as deps:
        plan = plan_retention(deps)
        decisions = {i.recording_id: i for i in plan.items if i.action == "delete_source"}
        assert set(decisions) == set(ok)  # the pending one is not even a candidate
        assert not decisions[unverified].proceed and not decisions[mismatched].proceed
        assert "no recorded verification" in decisions[unverified].reason
        run = apply_plan(deps, plan)

        outcome = {r.recording_id: r.outcome for r in run.results}
        assert outcome[unverified] == outcome[mismatched] == "refused"
        deleted = set(ok) - {unverified, mismatched}
        assert {rid for rid, o in outcome.items() if o == "done"} == deleted
        assert sim.deleted == deleted
        for rid in deleted:
            row = catalog.get(rid)
            assert row.state == "SOURCE_DELETED" and row.source_deleted_at == clock()
            assert row.source_deleted_sha256 == sim.media_sha256(rid)
            events = catalog.audit_events(rid)
            names = [e.event for e in events]
            # The verification (ARCHIVED) is on the chain before the deletion.
            assert names.index("archived") < names.index("source_deleted")
            (cert,) = certificates(catalog, rid)
            assert cert["verified_sha256"] == sim.media_sha256(rid)
            assert cert["verified_at"] is not None and cert["where"] == "infobip"
        (cert,) = certificates(catalog, gone_already)
        assert cert["confirmed_by"] == (
            "DELETE /ccaas/voice/2/recording/{recording_id} answered an Infobip 404; "
            "metadata shows deletedAt"
        )
        assert cert["outcome"].endswith(f"confirmed: {cert['confirmed_by']}")
        for rid in (unverified, mismatched):
            assert catalog.get(rid).state == "ARCHIVED"
            refused = [e for e in catalog.audit_events(rid) if e.event == "source_deletion_refused"]
            assert len(refused) == 1

        # Asked directly, a recording that is not archived yet is refused and audited too.
        with pytest.raises(PolicyError, match="state is DISCOVERED"):
            delete_source_copy(deps, pending, why="test", rule="delete-at-once")
        assert [e.event for e in catalog.audit_events(pending)][-1] == "source_deletion_refused"
        assert pending not in sim.deleted
    assert catalog.verify_audit_chain() == []


def test_a_source_copy_is_never_deleted_without_a_re_verified_archive(
    archived: tuple[Any, Catalog, Any, Clock],
) -> None:
    """Issue 9 finding 1: one archived version removed from the bucket by hand; retention used
    to delete the recording at Infobip anyway. Now the original is re-verified (moto keeps no
    SHA-256 checksums here, so it is read back and hashed) right before each source deletion."""
    sim, catalog, store, clock = archived
    ok = sorted(row.recording_id for row, _ in catalog.search() if row.state == "ARCHIVED")
    lost = ok[0]
    original = next(o for o in catalog.objects(lost) if o.kind == "original")
    store.delete_version(original.key, version_id=original.version_id)
    with retention_deps(sim, catalog=catalog, store=store, policy=POLICY, clock=clock) as deps:
        run = apply_plan(deps, plan_retention(deps))
    outcome = {r.recording_id: r for r in run.results}
    assert outcome[lost].outcome == "failed" and not run.ok
    assert "failed re-verification" in outcome[lost].detail
    assert lost not in sim.deleted and catalog.get(lost).state == "ARCHIVED"
    assert sim.deleted == set(ok) - {lost}
    for rid in sim.deleted:
        (cert,) = certificates(catalog, rid)
        check = cert["archive_check"]
        assert check["result"] == "re-verified" and check["method"] == "reread"
        assert check["sha256"] == sim.media_sha256(rid) == cert["verified_sha256"]
    assert catalog.verify_audit_chain() == []
