"""``recvault verify`` (without --deep) notices an archived key whose current version is no
longer the catalog's: overwritten, or hidden under a delete marker (issue 9, finding 10)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.verify.steps import verify_archive
from models.policy.rules import Policy
from simulator.scenario import Scenario
from storage.catalog.store import Catalog
from tests.fixtures.db import sqlite_url
from tests.fixtures.s3 import MakeStore
from tests.integration.retention_support import Clock, archive_all

pytestmark = pytest.mark.integration

POLICY = Policy.loads(
    'version = 1\n[[rules]]\nname = "keep"\nretention = "1y"\nderivative = "none"\n'
    'object_lock_mode = "none"\n'
)
SCENARIO = Scenario(seed=3, count=3, video_ratio=0.0, composed_ratio=0.0, legs_weights=(1, 0, 0))


def test_plain_verify_sees_an_overwritten_or_deleted_current_version(
    start_simulator: Any, make_store: MakeStore, s3_bucket: str, tmp_path: Path
) -> None:
    start = SCENARIO.start_at
    store = make_store(s3_bucket)
    with start_simulator(SCENARIO) as sim, Catalog.open(sqlite_url(tmp_path / "c.db")) as catalog:
        archive_all(
            sim,
            catalog=catalog,
            store=store,
            policy=POLICY,
            clock=Clock(start + timedelta(hours=3)),
            tmp_path=tmp_path,
            since=start - timedelta(hours=1),
            until=start + timedelta(hours=3),
        )
        assert verify_archive(catalog, store).ok
        rows = sorted(catalog.search(), key=lambda r: r[0].recording_id)
        overwritten, hidden = rows[0][1][0], rows[1][1][0]
        store.client.put_object(Bucket=store.bucket, Key=overwritten.key, Body=b"not the evidence")
        store.client.delete_object(Bucket=store.bucket, Key=hidden.key)  # a delete marker

        report = verify_archive(catalog, store)
    problems = {p.key: p.problem for p in report.problems}
    assert set(problems) == {overwritten.key, hidden.key}, problems
    assert f"not the archived version {overwritten.version_id}" in problems[overwritten.key]
    assert "no current version (a delete marker" in problems[hidden.key]
    assert report.bytes_read > 0  # the archived versions themselves still read back fine
