"""A partial download left by kill -9 is resumed by the next run (a Range request), proven by a
second full download, and removed from the work dir; if the source changed its bytes in between,
the recording ends QUARANTINED with both hashes instead of archiving a stitched file."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest

from simulator.scenario import ConnectionFault, RecordingPick, Scenario
from storage.catalog.store import Catalog
from tests.fixtures.archive import MakeRunEnv
from tests.fixtures.db import sqlite_url
from tests.fixtures.faults import CliForker, check_archive, work_dir_files, write_policy
from tests.fixtures.s3 import MakeStore
from tests.fixtures.simulator import StartSimulator

pytestmark = [pytest.mark.integration, pytest.mark.flow, pytest.mark.slow]

MiB = 1024 * 1024
SIZE = 4 * MiB


def _partial(work_dir: Path) -> Path | None:
    """A download's ``.part`` file that already holds a flushed MiB (writes are buffered)."""
    for path in work_dir.glob("*/original.*.part"):
        try:
            if path.stat().st_size >= MiB:
                return path
        except FileNotFoundError:
            continue
    return None


@pytest.mark.parametrize("changing", [False, True], ids=["same-bytes", "bytes-changed"])
def test_partial_download_left_by_a_kill(
    changing: bool,
    cli_forker: CliForker,
    start_simulator: StartSimulator,
    make_run_env: MakeRunEnv,
    make_store: MakeStore,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    every = RecordingPick(indices=(0, 1, 2))
    scenario = Scenario(
        seed=59,
        count=3,
        video_ratio=0.0,
        mp3_ratio=0.0,
        size_bytes=dict.fromkeys(range(3), SIZE),
        # The first response of each download breaks off: the client backs off, then resumes;
        # the kill lands in that pause or in the transfer around it.
        drop=ConnectionFault(recordings=every, after_bytes=int(2.5 * MiB)),
        changing_bytes=every if changing else RecordingPick(),
    )
    url = sqlite_url(tmp_path / "catalog.db")
    with start_simulator(scenario) as sim:
        run = make_run_env(
            sim,
            bucket=s3_bucket,
            catalog_url=url,
            RECVAULT_POLICY_FILE=str(write_policy(tmp_path / "policy.toml")),
            RECVAULT_CONCURRENCY="1",
        )
        env = {**os.environ, **run.values}
        work_dir = Path(run.values["RECVAULT_DATA_DIR"]) / "work"
        argv = ["archive", "--since", (scenario.start_at - timedelta(hours=1)).isoformat()]

        victim = cli_forker.start(argv, env, tmp_path / "runs")
        deadline = time.monotonic() + 60
        part = None
        while part is None and time.monotonic() < deadline and not cli_forker.exited(victim):
            part = _partial(work_dir)
            time.sleep(0.001)
        os.kill(victim.pid, signal.SIGKILL)
        assert cli_forker.wait(victim).code == -signal.SIGKILL
        assert part is not None and part.exists(), "no partial download was caught in time"
        killed_id = part.parent.name
        left = part.stat().st_size
        assert MiB <= left < SIZE
        ranges_before = sim.count("download", 206)

        rerun = cli_forker.run(argv, env, tmp_path / "runs")
        assert rerun.code == 0, rerun.stderr[-3000:]
        # Resumed from what the killed process left, not started again.
        assert sim.count("download", 206) > ranges_before

        with Catalog.open(url) as catalog:
            row = next(r for r, _ in catalog.search(recording_id=killed_id))
            events = [e for e in catalog.audit_events(killed_id) if e.event == "source_changed"]
        if changing:
            assert row.state == "QUARANTINED", (row.state, row.last_error)
            assert row.source_sha256 and row.conflicting_sha256
            assert row.source_sha256 != row.conflicting_sha256
            assert events and (events[0].detail or {}).get("first_sha256") == row.source_sha256
        else:
            assert row.state == "ARCHIVED", (row.state, row.last_error)
            assert row.source_sha256 == sim.media_sha256(killed_id)
            assert not events
        assert work_dir_files(work_dir) == []
        check_archive(url, make_store(s3_bucket), work_dir=work_dir)
