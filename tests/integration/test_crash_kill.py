"""kill -9 at seeded points of real ``recvault archive`` processes, each followed by a rerun
and a full consistency check.

Every trial archives the next time window of one growing archive (so later trials also prove
that reruns leave earlier recordings alone). A seeded choice says when to kill: once the catalog
holds a given number of new audit events (the process is then between two commits: listing,
downloading, probing, transcoding, uploading or verifying), plus a seeded delay; or by the clock
alone, early (preflight, bucket self-check, run lock, listing). The trials cycle through these
phases (early, then each quarter of a window's events), each point seeded within its phase, so
a dozen kills reach every phase that twenty unstratified ones did. After the kill
the test records what the process left (states, partial files, uploaded-but-uncommitted objects,
open multipart uploads, its run lock), reruns ``recvault archive`` for the window, and checks:

- the rerun exits 0 and every recording of the window is ARCHIVED with the simulator's bytes,
  exactly as an uninterrupted run leaves it (same state, same source hash and size, an original
  and a derivative, one version per key, one ``discovered`` and one ``archived`` event);
- ``recvault verify --deep``'s checks pass for the whole archive: objects re-read and hashed,
  no orphan and no unadopted object version, audit chain intact;
- no claim and no run lock is left, and the work dir is empty.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from flows.verify.steps import verify_archive
from models.states import IN_PROGRESS
from simulator.scenario import ConnectionFault, RecordingPick, Scenario
from simulator.server import SimulatorServer
from storage.catalog.store import Catalog
from storage.s3.store import ObjectStore
from tests.fixtures.archive import MakeRunEnv
from tests.fixtures.faults import (
    AuditCounter,
    CliForker,
    check_archive,
    object_versions,
    open_uploads,
    work_dir_files,
)
from tests.fixtures.profile import HYPOTHESIS_ENV
from tests.fixtures.s3 import MakeStore, MotoServer
from tests.fixtures.simulator import StartSimulator

pytestmark = [pytest.mark.integration, pytest.mark.flow, pytest.mark.slow]

# One round of the phases on each catalog: SQLite (the default, with its run lock) and
# PostgreSQL (claims of a dead worker taken over); more rounds cost the suite's time.
KILLS = {"sqlite": 5, "postgresql": 5}
# Where a trial kills, in turn: by the clock, early; or after an event of the window's first,
# second, third or last quarter (a window of n recordings makes about 4n events after listing).
PHASES: list[tuple[float, float] | None] = [
    None,
    (0.0, 0.25),
    (0.25, 0.5),
    (0.5, 0.75),
    (0.75, 1.0),
]
# One conversation (one to three recordings) per window: conversations start 300 s apart with
# up to 100 s of jitter, and short calls keep every leg inside its conversation's window.
WINDOW = timedelta(seconds=300)
SCENARIO = Scenario(
    seed=43,
    count=70,
    spacing_s=300,
    video_ratio=0.15,
    prep_delay_s=0.2,
    duration_max_s=150,
    drop=ConnectionFault(recordings=RecordingPick(ratio=0.3)),
    size_bytes=dict.fromkeys(range(0, 70, 3), 300_000),  # slower downloads: room to be killed
)
HAPPY = ["discovered", "ready", "downloaded", "uploaded", "archived"]


def _window_ids(sim: SimulatorServer, start: float, end: float) -> set[str]:
    return {e["recordingId"] for e in sim.recordings() if start <= e["startedAt"] / 1000 < end}


def _left_behind(
    catalog_url: str, store: ObjectStore, moto: MotoServer, bucket: str, work_dir: Path
) -> str:
    """What a killed run left, as a short label for the report."""
    marks: list[str] = []
    with Catalog.open(catalog_url) as catalog:
        rows = [row for row, _ in catalog.search()]
        report = verify_archive(catalog, store, deep=True)
        locked = catalog.lock_holder("archive-run") is not None
    assert report.ok, [p.__dict__ for p in report.problems]
    states = Counter(str(r.state) for r in rows if r.state in IN_PROGRESS)
    marks += [f"{state}x{n}" for state, n in sorted(states.items())]
    claimed = sum(1 for r in rows if r.claimed_by is not None)
    files = work_dir_files(work_dir)
    if any(f.endswith(".part") and "/." not in f for f in files):
        marks.append("partial-download")
    if any("/." in f for f in files):
        marks.append("transcode-temp")
    if any(f.endswith(".confirm") for f in files):
        marks.append("confirm-download")
    if any(f.rsplit("/", 1)[-1].startswith(("original.", "playback.")) for f in files):
        marks.append("work-files")
    if report.unadopted:
        marks.append(f"unadopted-objects x{len(report.unadopted)}")
    if open_uploads(moto, bucket):
        marks.append("open-multipart")
    if claimed:
        marks.append(f"claims x{claimed}")
    if locked:
        marks.append("run-lock")
    return ", ".join(marks) or "nothing pending"


@pytest.mark.timeout(600)
def test_kill_9_at_seeded_points_then_rerun(
    cli_forker: CliForker,
    start_simulator: StartSimulator,
    make_run_env: MakeRunEnv,
    make_store: MakeStore,
    moto_server: MotoServer,
    s3_bucket: str,
    catalog_url: str,
    tmp_path: Path,
    report: Callable[[str], None],
) -> None:
    backend = catalog_url.split(":", 1)[0].split("+", 1)[0]
    wanted = KILLS[backend]
    rng = random.Random(f"kill-points:{backend}")
    store = make_store(s3_bucket)
    outcomes: Counter[str] = Counter()
    kills = finished_first = 0
    started = time.monotonic()
    audit_count = AuditCounter(catalog_url)
    with start_simulator(SCENARIO) as sim:
        run = make_run_env(
            sim,
            bucket=s3_bucket,
            catalog_url=catalog_url,
            RECVAULT_LIST_OVERLAP_S="0",
            **HYPOTHESIS_ENV,  # videos through the simulator's section 9 preparation route
            RECVAULT_PREPARE_POLL_S="0.1",
        )
        env = {**os.environ, **run.values}
        work_dir = Path(run.values["RECVAULT_DATA_DIR"]) / "work"
        window_start = SCENARIO.start_at - timedelta(seconds=1)
        trial = 0
        while kills < wanted:
            trial += 1
            assert trial <= wanted + 8, f"only {kills} of {trial - 1} trials were killed in time"
            window_end = window_start + WINDOW
            argv = ["archive", "--since", window_start.isoformat()]
            argv += ["--until", window_end.isoformat(), "--json"]
            ids = _window_ids(sim, window_start.timestamp(), window_end.timestamp())
            assert ids, "the window holds no recording"
            # Each recording makes about five events; kill after one of the first four-fifths
            # of them (in this trial's quarter), or early, by the clock alone: preflight,
            # bucket check, run lock, listing.
            base = audit_count()
            phase = PHASES[(trial - 1) % len(PHASES)]
            if phase is None:
                target, delay_s = base, rng.uniform(0.05, 1.0)
            else:
                events = 4 * len(ids)
                low = 1 + int(phase[0] * events)
                high = max(low, int(phase[1] * events))
                target = base + rng.randint(low, high)
                delay_s = rng.choice([0.0, 0.0, rng.uniform(0.0, 0.3)])

            victim = cli_forker.start(argv, env, tmp_path / "runs")
            deadline = time.monotonic() + 60
            while audit_count() < target and time.monotonic() < deadline:
                if cli_forker.exited(victim):
                    break
                time.sleep(0.003)
            time.sleep(delay_s)
            # Not reaped yet, so the pid is still ours even if the process has exited.
            os.kill(victim.pid, signal.SIGKILL)
            first = cli_forker.wait(victim)
            if first.code == -signal.SIGKILL:
                kills += 1
                where = _left_behind(catalog_url, store, moto_server, s3_bucket, work_dir)
                outcomes[where] += 1
            else:
                finished_first += 1
                assert first.code == 0, first.stderr[-2000:]

            rerun = cli_forker.run(argv, env, tmp_path / "runs")
            assert rerun.code == 0, rerun.stderr[-3000:]
            _check_window(sim, catalog_url, ids)
            check_archive(catalog_url, store, work_dir=work_dir)
            window_start = window_end

        versions = object_versions(moto_server, s3_bucket)
        assert len({key for key, _ in versions}) == len(versions), "a key has two versions"
    audit_count.close()
    report(
        f"kill -9 ({backend}): {kills} kills in {trial} trials "
        f"({finished_first} finished before their kill point), {time.monotonic() - started:.1f} s"
    )
    for where, count in sorted(outcomes.items(), key=lambda kv: -kv[1]):
        report(f"  killed leaving {where}: {count}")


def _check_window(sim: SimulatorServer, catalog_url: str, ids: set[str]) -> None:
    """The window ends as an uninterrupted run leaves it."""
    with Catalog.open(catalog_url) as catalog:
        rows = {row.recording_id: (row, objs) for row, objs in catalog.search()}
        assert catalog.lock_holder("archive-run") is None
        assert all(row.claimed_by is None for row, _ in rows.values())
        for rid in ids:
            row, objects = rows[rid]
            assert row.state == "ARCHIVED", (rid, row.state, row.last_error)
            assert row.source_sha256 == sim.media_sha256(rid)
            assert row.source_size_bytes == sim.media_size(rid)
            kinds = {o.kind: o for o in objects}
            assert set(kinds) == {"original", "transcoded"}
            assert kinds["original"].sha256 == row.source_sha256
            assert kinds["original"].size_bytes == row.source_size_bytes
            events = [e.event for e in catalog.audit_events(rid)]
            assert events.count("discovered") == 1 and events.count("archived") == 1
            happy = [e for e in events if e in HAPPY]
            assert happy[0] == "discovered" and happy[-1] == "archived", events
