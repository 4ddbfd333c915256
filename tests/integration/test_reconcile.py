"""``recvault reconcile``: Infobip's listing, the catalog and the bucket compared per day, through
the CLI (simulator over HTTP, moto's S3 server, SQLite)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from simulator.scenario import Scenario
from tests.fixtures.archive import MakeRunEnv
from tests.fixtures.s3 import MotoServer

pytestmark = [pytest.mark.integration]

# Eight legs in conversations sixteen hours apart: recordings on several days.
SCENARIO = Scenario(seed=41, count=8, spacing_s=16 * 3600, video_ratio=0.0)
SINCE = SCENARIO.start - timedelta(hours=1)
UNTIL = SCENARIO.start + timedelta(days=5)


def test_reconcile_reports_missing_recordings_and_lost_objects_per_day(
    start_simulator: Any,
    make_bucket: Any,
    make_run_env: MakeRunEnv,
    moto_server: MotoServer,
    tmp_path: Path,
) -> None:
    bucket = make_bucket(object_lock=False)
    with start_simulator(SCENARIO) as sim:
        env = make_run_env(sim, bucket=bucket, catalog_url=f"sqlite:///{tmp_path / 'c.db'}")
        window = ("--since", SINCE.isoformat(), "--until", UNTIL.isoformat())
        # Archive all but the last day.
        cut = (SCENARIO.start + timedelta(days=2)).date().isoformat()  # a midnight
        archived = env.cli("archive", "--since", SINCE.isoformat(), "--until", cut)
        assert archived.returncode == 0, archived.stderr

        partial = env.cli("reconcile", *window, "--json")
        assert partial.returncode == 8, partial.stderr
        report = json.loads(partial.stdout)
        assert not report["ok"]
        totals = report["totals"]
        assert totals["listed"] == SCENARIO.count
        assert totals["missing"] == SCENARIO.count - totals["in_catalog"] > 0
        # Days after the cut are missing whole; the ones before it not at all.
        cut_day = cut[:10]
        for day in report["days"]:
            expected = day["listed"] if day["day"] >= cut_day else 0
            assert day["missing"] == expected, day
        assert any(d["missing"] for d in report["days"] if d["day"] >= cut_day)
        assert len(report["missing_ids"]) == totals["missing"]

        complete = env.cli("archive", *window)
        assert complete.returncode == 0, complete.stderr
        whole = env.cli("reconcile", *window, "--json")
        assert whole.returncode == 0, whole.stderr
        report = json.loads(whole.stdout)
        assert report["ok"] and report["totals"]["archived"] == SCENARIO.count
        assert report["totals"]["missing"] == report["totals"]["orphans"] == 0

        # An object version deleted behind recvault's back is a lost object.
        s3 = moto_server.client()
        first = s3.list_object_versions(Bucket=bucket, Prefix="recordings/")["Versions"][0]
        s3.delete_object(Bucket=bucket, Key=first["Key"], VersionId=first["VersionId"])
        lost = env.cli("reconcile", *window)
        assert lost.returncode == 8
        assert "Recordings or objects are missing" in lost.stdout
        assert first["Key"] in lost.stdout
