"""The fault matrix: every fault, on SQLite and PostgreSQL, ends in a documented state.

Each case runs the real archive flow in-process (Prefect test harness) against the simulator
over HTTP, moto's S3 server over HTTP and the real ffprobe/ffmpeg, then runs it a second time
(with the fault gone where it is an outage). After each run every recording must be in the
state the case documents; after the second, ``recvault verify --deep``'s checks must pass, every
ARCHIVED original must be the simulator's bytes, no key has a second version, and the work dir
is empty unless something is still pending. A case whose first run leaves nothing pending has
no second run (the kill tests rerun finished archives many times over).

Outcomes (the README's "what happens when" table is this list):

- transient Infobip faults (429 storms, 500/502/503, dropped connections, truncated bodies with
  a lying Content-Length): ARCHIVED in the same run, downloads resumed by Range;
- source bytes that change between the two parts of a resumed download: QUARANTINED with both
  hashes (``source_sha256`` and ``conflicting_sha256``, and in the ``source_changed`` event);
  bytes that change between downloads that each finish in one response: ARCHIVED (each response
  is self-consistent);
- video preparation that outlasts the run: stays PREPARING (PENDING), the next run archives it;
  preparation FAILED and 404 after listing: FAILED (terminal) with the reason;
- S3 failing PutObject / CompleteMultipartUpload / HeadObject / PutObjectRetention: the recording
  stays PENDING (DOWNLOADED or UPLOADED) with the error and its attempts counted; the next run
  archives it, adopting an object that was uploaded but not committed (and giving it the Object
  Lock it lacks, which the verification checks before ARCHIVED); an aborted multipart upload
  leaves no open upload behind;
- work dir over RECVAULT_WORK_DIR_MAX_BYTES: PENDING (deferred, no attempt counted), the work
  dir never grows past the limit, the next run with room resumes the partial download;
- media that ffprobe cannot read: QUARANTINED with its hash.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.archive.flow import archive_recordings
from flows.archive.summary import RunSummary
from models.states import IN_PROGRESS
from models.tables import ArchivedObject, Recording
from simulator.scenario import ConnectionFault, RecordingPick, RequestFault, Scenario
from simulator.server import SimulatorServer
from storage.catalog.store import Catalog
from tests.fixtures.archive import MakeRunEnv
from tests.fixtures.faults import (
    S3Faults,
    WorkDirSampler,
    check_archive,
    object_versions,
    open_uploads,
    work_dir_files,
    write_policy,
)
from tests.fixtures.profile import HYPOTHESIS_ENV
from tests.fixtures.s3 import MakeStore, MotoServer
from tests.fixtures.simulator import StartSimulator

pytestmark = [pytest.mark.integration, pytest.mark.flow, pytest.mark.slow]

Rows = dict[str, tuple[Recording, list[ArchivedObject]]]
MiB = 1024 * 1024
# Outages: a failed attempt waits 1.5 s (then 3 s) and the run does not wait for it (it may
# retry once while other recordings are in flight), so the recording is still pending when the
# run ends; the next run, once the fault is gone and the back-off is over, picks it up. (With
# 0.3 s, a loaded machine kept the run busy past every back-off: four attempts, FAILED.)
OUTAGE_ENV = {
    "RECVAULT_RETRY_BACKOFF_S": "1.5",
    "RECVAULT_PREPARE_WAIT_S": "0",
    "RECVAULT_MAX_ATTEMPTS": "4",
}


def audio(**fields: Any) -> Scenario:
    fields.setdefault("count", 6)
    return Scenario(seed=23, video_ratio=0.0, mp3_ratio=0.3, **fields)


def video(**fields: Any) -> Scenario:
    fields.setdefault("count", 4)
    return Scenario(seed=29, video_ratio=1.0, **fields)


@dataclass
class Ctx:
    sim: SimulatorServer
    faults: S3Faults
    work_dir: Path
    moto: MotoServer
    bucket: str
    started: float
    extra: dict[str, Any] = field(default_factory=dict)


Expect = Callable[[Ctx, Rows], None]


@dataclass(frozen=True)
class Case:
    scenario: Scenario
    first: Expect  # after the run with the fault
    second: Expect | None = None  # after the later run; None: nothing is pending after the first
    env: dict[str, str] = field(default_factory=dict)
    arm: Callable[[S3Faults], None] | None = None  # S3 faults during the first run only
    between: Callable[[Ctx], dict[str, str]] | None = None  # returns env changes for run 2
    sample_work_dir: bool = False


def _ids(ctx: Ctx, fault: Any) -> set[str]:
    return set(ctx.sim.ids_with(fault))


def _state(rows: Rows, rid: str) -> str:
    return str(rows[rid][0].state)


def all_archived(ctx: Ctx, rows: Rows) -> None:
    assert {rid: _state(rows, rid) for rid in rows} == dict.fromkeys(rows, "ARCHIVED")


def others_archived(ctx: Ctx, rows: Rows, faulty: set[str]) -> None:
    assert faulty, "the case hit no recording"
    for rid in set(rows) - faulty:
        assert _state(rows, rid) == "ARCHIVED", (rid, rows[rid][0].last_error)


def resumed(ctx: Ctx, rows: Rows) -> None:
    all_archived(ctx, rows)
    assert ctx.sim.count("download", 206) >= 3, ctx.sim.request_counts


def storm(ctx: Ctx, rows: Rows) -> None:
    all_archived(ctx, rows)
    assert ctx.sim.count("download", 429) >= 10


def server_errors(ctx: Ctx, rows: Rows) -> None:
    all_archived(ctx, rows)
    for status in (500, 502, 503):
        assert ctx.sim.count("metadata", status) == 1, ctx.sim.request_counts


def quarantined_changed(ctx: Ctx, rows: Rows) -> None:
    faulty = _ids(ctx, "changing_bytes")
    others_archived(ctx, rows, faulty)
    catalog = ctx.extra["catalog"]
    for rid in faulty:
        row, objects = rows[rid]
        assert row.state == "QUARANTINED", (rid, row.state, row.last_error)
        assert row.source_sha256 and row.conflicting_sha256
        assert row.source_sha256 != row.conflicting_sha256
        assert objects == []
        (event,) = [e for e in catalog.audit_events(rid) if e.event == "source_changed"]
        assert event.detail["first_sha256"] == row.source_sha256
        assert event.detail["second_sha256"] == row.conflicting_sha256


def changed_single_response(ctx: Ctx, rows: Rows) -> None:
    all_archived(ctx, rows)
    assert _ids(ctx, "changing_bytes")
    # The first download finished in one response: version 0 of the bytes is archived.
    for rid in _ids(ctx, "changing_bytes"):
        assert rows[rid][0].source_sha256 == ctx.sim.media_sha256(rid)


def preparing(ctx: Ctx, rows: Rows) -> None:
    for rid in rows:
        row = rows[rid][0]
        assert row.state == "PREPARING", (rid, row.state, row.last_error)
        assert row.next_attempt_at is not None and row.attempts == 0


def wait_for_preparation(ctx: Ctx) -> dict[str, str]:
    # Every preparation was requested during the first run; it is ready prep_delay_s later.
    waited = time.monotonic() - ctx.extra["first_run_end"]
    time.sleep(max(0.0, ctx.sim.scenario.prep_delay_s - waited) + 0.1)
    _sleep_until_due(ctx)  # and the next poll is due
    return {}


def failed_as(fault: str, reason: str) -> Expect:
    def expect(ctx: Ctx, rows: Rows) -> None:
        faulty = _ids(ctx, fault)
        others_archived(ctx, rows, faulty)
        for rid in faulty:
            row, objects = rows[rid]
            assert row.state == "FAILED", (rid, row.state)
            assert reason in (row.last_error or ""), row.last_error
            assert objects == []

    return expect


def corrupt_quarantined(ctx: Ctx, rows: Rows) -> None:
    faulty = _ids(ctx, "corrupt")
    others_archived(ctx, rows, faulty)
    for rid in faulty:
        row, objects = rows[rid]
        assert row.state == "QUARANTINED", (rid, row.state, row.last_error)
        assert "ffprobe cannot read" in (row.last_error or "")
        assert row.source_sha256 == ctx.sim.media_sha256(rid)
        assert objects == []


def pending_after(operation: str, states: set[str], *, only: int | None = None) -> Expect:
    def expect(ctx: Ctx, rows: Rows) -> None:
        assert ctx.faults.hits[operation] >= 1, ctx.faults.calls
        hit = set(rows) if only is None else {_rid_at(ctx, only)}
        others_archived(ctx, rows, hit) if only is not None else None
        for rid in hit:
            row, _objects = rows[rid]
            assert str(row.state) in states, (rid, row.state, row.last_error)
            # One attempt, or two when other recordings kept the run busy past the back-off.
            assert 1 <= row.attempts < 4, row.attempts
            assert operation in (row.last_error or ""), row.last_error
        assert open_uploads(ctx.moto, ctx.bucket) == []

    return expect


def _rid_at(ctx: Ctx, index: int) -> str:
    return str(ctx.sim.recordings()[index]["recordingId"])


def over_limit(ctx: Ctx, rows: Rows) -> None:
    big = _rid_at(ctx, 0)
    others_archived(ctx, rows, {big})
    row = rows[big][0]
    assert row.state in ("READY", "DISCOVERED"), (row.state, row.last_error)
    assert "WorkDirError" in (row.last_error or "") and row.attempts == 0
    limit = int(ctx.extra["limit"])
    assert 0 < ctx.extra["peak"] <= limit, (ctx.extra["peak"], limit)


def more_room(ctx: Ctx) -> dict[str, str]:
    time.sleep(1.1)  # the deferral's back-off
    assert work_dir_files(ctx.work_dir) == [], "the stopped partial download was not removed"
    return {"RECVAULT_WORK_DIR_MAX_BYTES": str(64 * MiB)}


def after_outage(ctx: Ctx) -> dict[str, str]:
    ctx.faults.disarm()
    _sleep_until_due(ctx)  # the failed attempts' back-off
    return {}


def _sleep_until_due(ctx: Ctx) -> None:
    """Until every pending recording of the first run is due again."""
    due = [
        row.next_attempt_at
        for row, _ in ctx.extra["rows"].values()
        if row.state in IN_PROGRESS and row.next_attempt_at is not None
    ]
    if due:
        time.sleep(max(0.0, (max(due) - datetime.now(UTC)).total_seconds()) + 0.05)


def _drop_same(indices: tuple[int, ...]) -> ConnectionFault:
    return ConnectionFault(recordings=RecordingPick(indices=indices))


CASES: dict[str, Case] = {
    # Downloads only: a storm on the listing is the end-to-end test's (back-off is sequential).
    "429-storm": Case(audio(rate_limit=RequestFault(first_n=10, endpoints=("download",))), storm),
    "500-502-503": Case(audio(server_errors=RequestFault(first_n=3)), server_errors),
    "dropped-mid-download": Case(audio(drop=_drop_same((0, 2, 4))), resumed),
    "truncated-lying-length": Case(audio(truncate=_drop_same((1, 3, 5))), resumed),
    "bytes-change-on-resume": Case(
        audio(changing_bytes=RecordingPick(indices=(1, 4)), drop=_drop_same((1, 4))),
        quarantined_changed,
    ),
    "bytes-change-between-whole-downloads": Case(
        audio(changing_bytes=RecordingPick(indices=(0, 3))), changed_single_response
    ),
    "preparation-outlasts-run": Case(
        # The run keeps polling while anything is in flight: with a 0.2 s poll, a loaded machine
        # kept the first run busy until the preparation was done. A 2 s poll ends it after one.
        video(prep_delay_s=3.0),
        preparing,
        second=all_archived,
        env={"RECVAULT_PREPARE_WAIT_S": "0.3", "RECVAULT_PREPARE_POLL_S": "2"},
        between=wait_for_preparation,
    ),
    "preparation-failed": Case(
        video(prep_failures=RecordingPick(count=1), prep_delay_s=0.1),
        failed_as("prep_failures", "video preparation failed"),
    ),
    "404-after-listing": Case(
        audio(gone_after_listing=RecordingPick(count=2)), failed_as("gone_after_listing", "404")
    ),
    "s3-put-object": Case(
        audio(count=4),
        pending_after("PutObject", {"DOWNLOADED"}),
        second=all_archived,
        env=OUTAGE_ENV,
        arm=lambda f: f.arm("PutObject", status=503, code="ServiceUnavailable"),
        between=after_outage,
    ),
    "s3-complete-multipart": Case(
        audio(count=3, size_bytes={0: 6 * MiB}),
        pending_after("CompleteMultipartUpload", {"DOWNLOADED"}, only=0),
        second=all_archived,
        env={
            **OUTAGE_ENV,
            "RECVAULT_S3_MULTIPART_THRESHOLD_BYTES": str(5 * MiB),
            "RECVAULT_S3_PART_SIZE_BYTES": str(5 * MiB),
        },
        arm=lambda f: f.arm("CompleteMultipartUpload", status=500, code="InternalError"),
        between=after_outage,
    ),
    # Stores that drop lock headers on multipart uploads get the retention set when the
    # upload is verified; a failure there leaves the recording UPLOADED with an unlocked
    # object, which the next run's verification locks (never archived unlocked).
    "s3-put-retention": Case(
        audio(count=3, size_bytes={0: 6 * MiB}),
        pending_after("PutObjectRetention", {"UPLOADED"}, only=0),
        second=all_archived,
        env={
            **OUTAGE_ENV,
            "RECVAULT_S3_MULTIPART_THRESHOLD_BYTES": str(5 * MiB),
            "RECVAULT_S3_PART_SIZE_BYTES": str(5 * MiB),
        },
        arm=lambda f: f.arm("PutObjectRetention", status=503, code="ServiceUnavailable"),
        between=after_outage,
    ),
    "s3-head-object": Case(
        audio(count=4),
        pending_after("HeadObject", {"DOWNLOADED", "UPLOADED"}),
        second=all_archived,
        env=OUTAGE_ENV,
        # Versioned reads only: the verification after upload (and the lock check).
        arm=lambda f: f.arm(
            "HeadObject", status=500, code="InternalError", when=lambda p: "VersionId" in p
        ),
        between=after_outage,
    ),
    "work-dir-limit": Case(
        audio(count=4, size_bytes={0: 3 * MiB}),
        over_limit,
        second=all_archived,
        env={
            **OUTAGE_ENV,
            "RECVAULT_WORK_DIR_MAX_BYTES": str(MiB),
            "RECVAULT_RETRY_BACKOFF_S": "1",
            # One at a time: the big recording meets the limit alone, deterministically.
            "RECVAULT_CONCURRENCY": "1",
        },
        between=more_room,
        sample_work_dir=True,
    ),
    "ffprobe-corrupt-media": Case(audio(corrupt=RecordingPick(count=2)), corrupt_quarantined),
}


def _rows(catalog: Catalog) -> Rows:
    return {row.recording_id: (row, objects) for row, objects in catalog.search()}


def _run(ctx: Ctx, since: Any, *, sample: bool) -> RunSummary:
    if not sample:
        return archive_recordings(since=since)
    with WorkDirSampler(ctx.work_dir) as sampler:
        summary = archive_recordings(since=since)
    ctx.extra["peak"] = sampler.peak
    return summary


def _check(ctx: Ctx, catalog_url: str, expect: Expect, store: Any) -> Rows:
    catalog = Catalog.open(catalog_url)
    try:
        rows = _rows(catalog)
        assert set(rows) == {e["recordingId"] for e in ctx.sim.recordings()}
        ctx.extra["catalog"] = catalog
        expect(ctx, rows)
    finally:
        ctx.extra.pop("catalog", None)
        catalog.close()
    for rid, (row, objects) in rows.items():
        if row.state == "ARCHIVED":
            original = next(o for o in objects if o.kind == "original")
            assert original.sha256 == row.source_sha256 == ctx.sim.media_sha256(rid)
            assert original.size_bytes == ctx.sim.media_size(rid)
    return rows


@pytest.mark.parametrize("name", list(CASES))
def test_fault(
    name: str,
    prefect_harness: None,
    start_simulator: StartSimulator,
    make_run_env: MakeRunEnv,
    make_store: MakeStore,
    moto_server: MotoServer,
    s3_bucket: str,
    catalog_url: str,
    s3_faults: S3Faults,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = CASES[name]
    policy = write_policy(tmp_path / "policy.toml")
    with start_simulator(case.scenario) as sim:
        env = make_run_env(
            sim,
            bucket=s3_bucket,
            catalog_url=catalog_url,
            RECVAULT_POLICY_FILE=str(policy),
            **{**HYPOTHESIS_ENV, **case.env},  # the matrix covers the section 9 routes too
        )
        env.apply(monkeypatch)
        work_dir = Path(env.values["RECVAULT_DATA_DIR"]) / "work"
        ctx = Ctx(sim, s3_faults, work_dir, moto_server, s3_bucket, time.monotonic())
        if "RECVAULT_WORK_DIR_MAX_BYTES" in case.env:
            ctx.extra["limit"] = case.env["RECVAULT_WORK_DIR_MAX_BYTES"]
        if case.arm:
            case.arm(s3_faults)
        since = case.scenario.start_at - timedelta(hours=1)
        store = make_store(s3_bucket)

        _run(ctx, since, sample=case.sample_work_dir)
        ctx.extra["first_run_end"] = time.monotonic()
        rows = _check(ctx, catalog_url, case.first, store)
        ctx.extra["rows"] = rows
        check_archive(catalog_url, store, work_dir=work_dir, allow_unadopted=True)

        pending = [rid for rid, (row, _) in rows.items() if row.state in IN_PROGRESS]
        assert bool(pending) == (case.second is not None), pending
        if case.second is not None:
            changes = case.between(ctx) if case.between else {}
            for key, value in changes.items():
                monkeypatch.setenv(key, value)
            _run(ctx, since, sample=False)
            _check(ctx, catalog_url, case.second, store)
            check_archive(catalog_url, store, work_dir=work_dir)
        versions = object_versions(moto_server, s3_bucket)
        assert len({key for key, _ in versions}) == len(versions), "a key has two versions"
