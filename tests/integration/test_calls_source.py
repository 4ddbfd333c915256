"""CallsSource against the simulator over real HTTP: list, readiness, download, delete."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from models.errors import SourceNotFound
from models.ports import Readiness, SourceRecording
from models.tables import Recording
from simulator.scenario import (
    CallsScenario,
    ConnectionFault,
    RecordingPick,
    RequestFault,
    Scenario,
)
from simulator.server import SimulatorServer
from storage.infobip.calls import CallsSource
from tests.fixtures.simulator import StartSimulator

pytestmark = pytest.mark.integration

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2026, 2, 1, tzinfo=UTC)


def source_for(sim: SimulatorServer, **kwargs: Any) -> CallsSource:
    # Files are limited to 100 a minute; the simulator does not enforce it here, so go faster.
    kwargs.setdefault("file_rate_per_min", 60_000)
    kwargs.setdefault("sleep", lambda seconds: time.sleep(seconds * 0.01))
    kwargs.setdefault("deletion", "calls-files")
    return CallsSource(sim.base_url, sim.api_key, **kwargs)


def row_of(rec: SourceRecording) -> Recording:
    """The catalog row an upsert makes (raw goes through the JSON column)."""
    return Recording(
        recording_id=rec.recording_id,
        source=rec.source,
        conference_id=rec.conference_id,
        call_id=rec.call_id,
        recording_status=rec.status,
        composed=rec.composed,
        media_type=rec.media_type,
        started_at=rec.started_at,
        raw=json.loads(json.dumps(dict(rec.raw))),
    )


def test_lists_every_file_once_with_its_entity(start_simulator: StartSimulator) -> None:
    scenario = Scenario(seed=21, calls=CallsScenario(count=30))
    with start_simulator(scenario) as sim, source_for(sim, page_size=4) as source:
        listed = list(source.list_recordings(since=SINCE, until=UNTIL))
        files = {f["id"]: f for f in sim.calls.files()}
        assert sorted(r.recording_id for r in listed) == sorted(files)
        assert source.stats()["requests"] > 3  # paged
    for rec in listed:
        expected = files[rec.recording_id]
        assert rec.source == "calls" and rec.filename == expected["name"]
        assert rec.size_bytes == expected["size"] and rec.raw["entity"] == expected["entity"]
        assert rec.raw["entityId"] == expected["entityId"] and rec.call_id == expected["callId"]
        assert rec.composed == (expected["callId"] is None)
        assert rec.media_type == ("AUDIO_AND_VIDEO" if expected["fileFormat"] == "MP4" else "AUDIO")
        if expected["entity"] != "call":
            assert rec.conference_id == expected["entityId"]


def test_a_narrow_window_lists_only_entities_started_in_it(
    start_simulator: StartSimulator,
) -> None:
    with start_simulator(Scenario(seed=21)) as sim, source_for(sim) as source:
        entity = sim.calls.entities("call")[1]
        started = datetime.fromisoformat(entity["startTime"])
        until = started + timedelta(milliseconds=1)
        listed = list(source.list_recordings(since=started, until=until))
    assert {r.recording_id for r in listed} == {f["id"] for f in entity["files"]}


def test_readiness_follows_the_simulators_faults(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    calls = CallsScenario(
        count=12,
        failed=RecordingPick(count=3),
        sftp=RecordingPick(count=1),
    )
    with start_simulator(Scenario(seed=21, calls=calls)) as sim, source_for(sim) as source:
        rows = {r.recording_id: row_of(r) for r in source.list_recordings(since=SINCE, until=UNTIL)}
        failed, sftp = sim.calls.ids_with("failed"), sim.calls.ids_with("sftp")
        assert failed and sftp
        states = {rid: source.readiness(row).state for rid, row in rows.items()}
        for rid in failed:
            assert states[rid] is Readiness.FAILED
            with pytest.raises(SourceNotFound):
                source.download(rows[rid], tmp_path / rid, on_progress=None)
            assert not (tmp_path / rid).exists()
        assert all(states[rid] is Readiness.WAITING for rid in sftp)
        ready = [rid for rid, state in states.items() if state is Readiness.READY]
        assert set(ready) == set(rows) - set(failed) - set(sftp)


def test_download_resumes_after_a_dropped_connection(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    drop = ConnectionFault(recordings=RecordingPick(indices=(0,)), after_bytes=4096, times=2)
    scenario = Scenario(seed=21, calls=CallsScenario(count=6, drop=drop))
    with start_simulator(scenario) as sim, source_for(sim) as source:
        first = sim.calls.files()[0]
        assert sim.calls.file(first["id"]).index == 0
        rec = next(
            r
            for r in source.list_recordings(since=SINCE, until=UNTIL)
            if r.recording_id == first["id"]
        )
        result = source.download(row_of(rec), tmp_path / "f.part", on_progress=None)
        stats = source.stats()
    assert result.resumes == 2 and stats["connection_errors"] == 2
    assert result.size_bytes == first["size"]
    assert result.sha256 == sim.calls.media_sha256(first["id"])
    assert result.content_type == "application/octet-stream"


def test_throttled_lists_are_retried(start_simulator: StartSimulator) -> None:
    scenario = Scenario(seed=21, rate_limit=RequestFault(first_n=2, endpoints=("calls_list",)))
    with start_simulator(scenario) as sim, source_for(sim) as source:
        listed = list(source.list_recordings(since=SINCE, until=UNTIL))
        stats = source.stats()
    assert len(listed) == len(sim.calls.files())
    assert stats["rate_limited"] == 2 and stats["retries"] == 2
    assert sim.count("calls_list", 429) == 2


def test_delete_is_confirmed_by_reading_back(start_simulator: StartSimulator) -> None:
    with start_simulator(Scenario(seed=21)) as sim, source_for(sim) as source:
        rows = [row_of(r) for r in source.list_recordings(since=SINCE, until=UNTIL)]
        by_kind = {row.raw["entity"]: row for row in rows if row.raw}
        receipts = [source.delete(row) for row in by_kind.values()]
        remaining = {f["id"] for f in sim.calls.files()}
        again = source.delete(next(iter(by_kind.values())))
    assert len(receipts) == 3  # a call, a conference and a dialog file
    for row, receipt in zip(by_kind.values(), receipts, strict=True):
        assert receipt.recording_id == row.recording_id
        assert "DELETE answered 200" in receipt.confirmed_by
        assert "no longer lists file" in receipt.confirmed_by
        assert row.recording_id not in remaining
        assert receipt.deleted_at is not None
    assert sim.calls.entities("call")  # the recordings' metadata stays
    assert again.confirmed_by.startswith("DELETE answered 404 (already gone)")


def test_refresh_sees_a_file_deleted_behind_our_back(start_simulator: StartSimulator) -> None:
    with start_simulator(Scenario(seed=21)) as sim, source_for(sim) as source:
        rows = [row_of(r) for r in source.list_recordings(since=SINCE, until=UNTIL)]
        row = next(r for r in rows if r.raw and r.raw["entity"] == "call")
        assert source.readiness(row, refresh=True).state is Readiness.READY
        sim.calls.delete_file(row.recording_id, {})  # someone else deletes it at Infobip
        report = source.readiness(row, refresh=True)
    assert report.state is Readiness.GONE and "no longer lists file" in (report.reason or "")
