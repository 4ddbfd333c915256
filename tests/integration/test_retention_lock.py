"""COMPLIANCE Object Lock in real time: the bucket and recvault agree on retain-until.

The recordings start one day (the rule's retention) minus a few seconds before now, so the
retain-until date that the archive sets at upload falls a few seconds ahead. Before it, the
plan waits and S3 itself refuses a deletion; after it, the expiry goes through without any
bypass. Nothing here relies on moto's clock or leniency: real S3 behaves the same.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.retention.delete import list_versions
from flows.retention.steps import apply_plan, plan_retention
from models.errors import RetentionNotExpired
from models.policy.rules import Policy
from simulator.scenario import Scenario
from storage.catalog.store import Catalog
from tests.fixtures.db import sqlite_url
from tests.fixtures.s3 import MakeStore
from tests.integration.retention_support import Clock, archive_all, retention_deps

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POLICY = Policy.loads(
    """
version = 1
[[rules]]
name = "one-day-compliance"
retention = "1d"
object_lock_mode = "COMPLIANCE"
object_lock_required = true
delete_source = "never"
derivative = "none"
"""
)
# Archiving the two recordings must finish well before retain-until: on a loaded machine it
# took more than 5 s, and the bucket then (rightly) allowed the "early" deletion.
LEAD_S = 15.0


def test_compliance_lock_and_expiry_agree_in_real_time(
    start_simulator: Any, make_store: MakeStore, s3_bucket: str, tmp_path: Path
) -> None:
    # SQLite only: the catalog is not the point here, and each backend would wait again.
    catalog_url = sqlite_url(tmp_path / "catalog.db")
    start = datetime.now(UTC) - timedelta(days=1) + timedelta(seconds=LEAD_S)
    scenario = Scenario(
        seed=2, count=2, start_at=start, spacing_s=0.5, video_ratio=0.0, legs_weights=(1, 0, 0)
    )
    clock = Clock(datetime.now(UTC))
    store = make_store(s3_bucket)
    with start_simulator(scenario) as sim, Catalog.open(catalog_url) as catalog:
        kw: dict[str, Any] = {"catalog": catalog, "store": store, "policy": POLICY, "clock": clock}
        archived = archive_all(
            sim,
            **kw,
            tmp_path=tmp_path,
            since=start - timedelta(hours=1),
            until=start + timedelta(hours=1),
        )
        assert archived == 2
        with retention_deps(sim, **kw) as deps:
            rows = [row for row, _ in catalog.search()]
            versions = {
                r.recording_id: list_versions(store, catalog.objects(r.recording_id)) for r in rows
            }
            ends = []
            for found in versions.values():
                (version,) = found
                assert version.lock_mode == "COMPLIANCE" and version.retain_until is not None
                ends.append(version.retain_until)
                # The bucket refuses now, whoever asks and with the bypass header.
                with pytest.raises(RetentionNotExpired):
                    store.delete_version(
                        version.key, version_id=version.version_id, bypass_governance=True
                    )

            clock.set(datetime.now(UTC))
            before = plan_retention(deps)
            assert before.items == [] and before.waiting == 2

            time.sleep(max(0.0, (max(ends) - datetime.now(UTC)).total_seconds()) + 1.1)
            clock.set(datetime.now(UTC))
            dry = plan_retention(deps)
            run = apply_plan(deps, plan_retention(deps))
            dry_items = json.loads(json.dumps(dry.as_dict()))["items"]
            real_items = json.loads(json.dumps(run.plan.as_dict()))["items"]
            assert dry_items == real_items and len(dry_items) == 2
            assert [r.outcome for r in run.results] == ["done", "done"]
            for row in rows:
                assert catalog.get(row.recording_id).state == "EXPIRED"
                assert list_versions(store, catalog.objects(row.recording_id)) == []
