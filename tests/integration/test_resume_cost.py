"""What dropped connections cost through ``recvault archive``: one full download per
recording, a resume and its overlap per drop, and still a quarantine when the bytes change.

Runs the real CLI (in process, no Prefect) against the simulator over HTTP and the moto
server. Before resumes were checked by their overlap, every resumed recording was downloaded
a second time in full, and a run slept for retry back-offs up to RECVAULT_PREPARE_WAIT_S.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest

from simulator.scenario import ConnectionFault, NotReadyFault, RecordingPick, Scenario
from storage.catalog.store import Catalog
from storage.infobip.download import RESUME_OVERLAP_BYTES
from tests.fixtures.archive import MakeRunEnv
from tests.fixtures.simulator import StartSimulator

pytestmark = [pytest.mark.integration]

MiB = 1024 * 1024
DROPPED = (0, 2, 4)
TRUNCATED = (5,)
CHANGED = (6,)  # its bytes change on every request, and its first response drops
LATE = (7,)  # media not final at the first listing: waits RECVAULT_NOT_READY_RETRY_S
SCENARIO = Scenario(
    seed=31,
    count=8,
    video_ratio=0.0,
    mp3_ratio=0.3,
    size_bytes={0: 6 * MiB},
    drop=ConnectionFault(recordings=RecordingPick(indices=DROPPED + CHANGED)),
    truncate=ConnectionFault(recordings=RecordingPick(indices=TRUNCATED)),
    changing_bytes=RecordingPick(indices=CHANGED),
    not_ready=NotReadyFault(
        recordings=RecordingPick(indices=LATE), in_progress_listings=None, in_progress_s=600
    ),
)


def test_resumes_cost_no_second_download_and_changed_bytes_are_quarantined(
    start_simulator: StartSimulator, make_run_env: MakeRunEnv, s3_bucket: str, tmp_path: Path
) -> None:
    catalog_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    with start_simulator(SCENARIO) as sim:
        run = make_run_env(
            sim,
            bucket=s3_bucket,
            catalog_url=catalog_url,
            RECVAULT_NOT_READY_RETRY_S="90",
            RECVAULT_PREPARE_WAIT_S="120",
        )
        ids = [e["recordingId"] for e in sim.recordings()]
        changed, late = ids[CHANGED[0]], ids[LATE[0]]
        since = (SCENARIO.start_at - timedelta(hours=1)).isoformat()

        started = time.monotonic()
        archived = run.cli("archive", "--since", since, "--json")
        wall_s = time.monotonic() - started

        assert archived.returncode == 0, archived.stderr[-2000:]
        summary = json.loads(archived.stdout)
        assert summary["outcomes"] == {"archived": 6, "quarantined": 1, "waiting": 1}
        # The recording not final yet is the next run's: the run did not sleep 90 s for it.
        assert wall_s < 90, wall_s

        settled = [rid for rid in ids if rid not in (changed, late)]
        sizes = {rid: sim.media_size(rid) for rid in ids if rid != late}
        resumed = len(DROPPED) + len(TRUNCATED) + len(CHANGED)
        # One full download per recording; the changed one has its confirmation too.
        assert sim.count("download", 200) == len(sizes) + 1, sim.request_counts
        assert sim.count("download", 206) == resumed, sim.request_counts
        # Bytes: every file once, plus at most one overlap per resume, plus the changed
        # recording's confirmation (before, a second full copy of each resumed file).
        assert sim.bytes_served() <= (
            sum(sizes.values()) + sizes[changed] + resumed * RESUME_OVERLAP_BYTES
        )
        # A second full download of the 6 MiB file alone would make this 2; what is above 1 is
        # the overlap and the bytes a reset connection lost in flight.
        unchanged_bytes = sum(sizes[rid] for rid in settled)
        assert sim.bytes_served() - 3 * sizes[changed] < 1.5 * unchanged_bytes

    catalog = Catalog.open(catalog_url)
    try:
        rows = {row.recording_id: row for row, _objects in catalog.search()}
        for rid in settled:
            assert rows[rid].state == "ARCHIVED", (rid, rows[rid].last_error)
            assert rows[rid].source_sha256 == sim.media_sha256(rid)
        row = rows[changed]
        assert row.state == "QUARANTINED", (row.state, row.last_error)
        assert row.source_sha256 and row.conflicting_sha256
        assert row.source_sha256 != row.conflicting_sha256
        (event,) = [e for e in catalog.audit_events(changed) if e.event == "source_changed"]
        assert event.detail is not None
        assert event.detail["first_sha256"] == row.source_sha256
        assert event.detail["second_sha256"] == row.conflicting_sha256
        assert event.detail["changed_at_resume"] > 0
        assert rows[late].state == "DISCOVERED" and rows[late].next_attempt_at is not None
    finally:
        catalog.close()
