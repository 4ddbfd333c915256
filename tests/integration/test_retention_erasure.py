"""Erasure requests: one person's recordings deleted everywhere with evidence, except those
under a legal hold, a statutory retention or a COMPLIANCE Object Lock, each with its reason."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.retention.delete import list_versions
from flows.retention.erasure import apply_erasure, plan_erasure, run_erasure
from flows.retention.holds import place_hold
from models.errors import ConfigError
from models.policy.rules import Policy
from simulator.scenario import Scenario
from storage.catalog.store import Catalog
from tests.fixtures.s3 import MakeStore
from tests.integration.retention_support import Clock, archive_all, certificates, retention_deps

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POLICY = Policy.loads(
    """
version = 1

[[rules]]
name = "agents-compliance"
match = { participant_type = ["AGENT"] }
retention = "1y"
object_lock_mode = "COMPLIANCE"
derivative = "none"

[[rules]]
name = "outbound-statutory"
match = { direction = ["OUTBOUND"] }
retention = "5y"
object_lock_mode = "GOVERNANCE"
statutory = true
derivative = "none"

[[rules]]
name = "inbound-governance"
retention = "1y"
object_lock_mode = "GOVERNANCE"
derivative = "opus"
"""
)
SCENARIO = Scenario(seed=4, count=12, video_ratio=0.0, composed_ratio=0.0)
START = SCENARIO.start_at


def _items(plan: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(json.dumps(plan.as_dict()))["items"]
    return items


def test_erasure_deletes_what_it_may_and_says_why_it_refuses_the_rest(
    start_simulator: Any, make_store: MakeStore, s3_bucket: str, catalog_url: str, tmp_path: Path
) -> None:
    clock = Clock(START + timedelta(hours=3))
    store = make_store(s3_bucket)
    with start_simulator(SCENARIO) as sim, Catalog.open(catalog_url) as catalog:
        kw: dict[str, Any] = {"catalog": catalog, "store": store, "policy": POLICY, "clock": clock}
        archive_all(
            sim,
            **kw,
            tmp_path=tmp_path,
            since=START - timedelta(hours=1),
            until=START + timedelta(hours=3),
        )
        customers = [e for e in sim.recordings() if e["participantType"] == "CUSTOMER"]
        inbound = [e for e in customers if e["direction"] == "INBOUND"]
        outbound = [e for e in customers if e["direction"] == "OUTBOUND"]
        agent = next(e for e in sim.recordings() if e["participantType"] == "AGENT")
        assert len(inbound) >= 2 and outbound
        erased, held = inbound[0], inbound[1]

        with retention_deps(sim, **kw) as deps:
            place_hold(
                deps,
                scope_kind="conversation",
                scope_value=held["conversationId"],
                reason="dispute",
                case_ref="CASE-3",
            )
            # Dry run, then the real run: the same plan, then exactly that.
            identity = erased["participantIdentity"]
            dry = run_erasure(deps, identity.upper(), dry_run=True, reference="DSAR-1")
            real_plan = plan_erasure(deps, identity, reference="DSAR-1")
            assert _items(dry.plan) == _items(real_plan)
            (item,) = real_plan.items
            assert item.proceed and item.delete_source and item.bypass_governance
            assert {v.kind for v in item.versions} == {"original", "transcoded"}
            assert all(v.lock_mode == "GOVERNANCE" for v in item.versions)
            assert sim.deleted == set()  # the dry run changed nothing
            run = apply_erasure(deps, real_plan)
            assert [r.outcome for r in run.results] == ["done"]

            rid = erased["recordingId"]
            row = catalog.get(rid)
            assert row.state == "EXPIRED" and row.participant_identity is None
            assert row.source_sha256 == sim.media_sha256(rid)
            assert rid in sim.deleted
            assert list_versions(store, catalog.objects(rid)) == []
            kinds = [c["kind"] for c in certificates(catalog, rid)]
            assert kinds == ["source_deletion", "erasure"]
            cert = certificates(catalog, rid)[-1]
            assert cert["request_id"] == real_plan.request_id
            assert cert["request_reference_hmac"] == real_plan.reference_hmac
            assert cert["bypass_governance"] is True
            assert catalog.recordings_of_participant(identity) == []
            logged = json.dumps([e.detail for e in catalog.audit_events()])
            assert identity not in logged and "DSAR-1" not in logged

            # The refusals, each with its reason; nothing of theirs is touched.
            reasons = {}
            for who in (held, outbound[0], agent):
                run = run_erasure(deps, who["participantIdentity"], dry_run=False)
                for result in run.results:
                    assert result.outcome == "refused"
                    reasons[result.recording_id] = result.detail
            assert "legal hold is active" in reasons[held["recordingId"]]
            assert "statutory retention until 2031-01-05" in reasons[outbound[0]["recordingId"]]
            assert "COMPLIANCE until 2027-01-05" in reasons[agent["recordingId"]]
            for refused in reasons:
                assert catalog.get(refused).state == "ARCHIVED"
                assert refused not in sim.deleted
                assert len(list_versions(store, catalog.objects(refused))) >= 1
                events = [e.event for e in catalog.audit_events(refused)]
                assert "erasure_refused" in events

            # Once the statutory retention has ended, the outbound customer can be erased too.
            clock.set(START + timedelta(days=5 * 366))
            plan = plan_erasure(deps, outbound[0]["participantIdentity"], reference=None)
            assert [i.decision for i in plan.items] == ["delete"]

            with pytest.raises(ConfigError, match="must not be empty"):
                plan_erasure(deps, "  ", reference=None)
        assert catalog.verify_audit_chain() == []
