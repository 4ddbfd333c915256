"""InfobipClient downloads, preparation, deletion and config against the simulator (real HTTP)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from models.errors import (
    DownloadIntegrityError,
    RecordingNotReady,
    SourceBadRequest,
    SourceNotFound,
)
from models.source import PreparationState
from simulator.scenario import (
    ConnectionFault,
    NotReadyFault,
    RecordingPick,
    RequestFault,
    Scenario,
)
from simulator.server import SimulatorServer
from tests.fixtures.simulator import StartSimulator, infobip_client

pytestmark = pytest.mark.integration


def audio_scenario(**fields: Any) -> Scenario:
    return Scenario(video_ratio=0.0, mp3_ratio=0.0, **fields)


def test_clean_downloads_match_the_source_bytes(simulator: SimulatorServer, tmp_path: Path) -> None:
    with infobip_client(simulator) as client:
        for element in simulator.recordings():
            rid = str(element["recordingId"])
            result = client.download(rid, tmp_path / rid)
            assert result.sha256 == simulator.media_sha256(rid)
            assert result.size_bytes == simulator.media_size(rid) == result.path.stat().st_size
            assert result.resumes == 0
            # The published contract's type for every recording (docs/infobip.md).
            assert result.content_type == "application/octet-stream"
        assert client.stats.retries == 0


@pytest.mark.parametrize("kind", ["drop", "truncate"])
def test_cut_connections_resume_to_the_exact_bytes(
    start_simulator: StartSimulator, tmp_path: Path, kind: str
) -> None:
    fault = ConnectionFault(recordings=RecordingPick(indices=(0,)), after_bytes=1_500_000, times=3)
    scenario = audio_scenario(count=2, size_bytes={0: 8_000_000}, **{kind: fault})
    with start_simulator(scenario) as sim, infobip_client(sim, backoff_scale=0.05) as client:
        (rid,) = sim.ids_with(kind)  # type: ignore[arg-type]
        result = client.download(rid, tmp_path / "media.wav", expected_size_bytes=8_000_000)
        assert result.sha256 == sim.media_sha256(rid)
        assert result.size_bytes == 8_000_000
        assert result.resumes == 3 and client.stats.resumes == 3
        assert sim.request_counts[("download", 206)] == 3


def test_a_partial_file_from_an_earlier_run_is_resumed(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    with start_simulator(audio_scenario(count=1, size_bytes={0: 3_000_000})) as sim:
        rid = str(sim.recordings()[0]["recordingId"])
        dest = tmp_path / "media.wav"
        dest.write_bytes(sim.media_bytes(rid)[:1_234_567])
        with infobip_client(sim) as client:
            result = client.download(rid, dest)
        assert (result.sha256, result.resumes) == (sim.media_sha256(rid), 1)
        assert sim.request_counts == {("download", 206): 1}


def test_a_429_storm_still_completes(
    start_simulator: StartSimulator, tmp_path: Path, report: Callable[[str], None]
) -> None:
    scenario = Scenario(
        seed=13,
        count=40,
        video_ratio=0.25,
        video_download_preparation=True,
        prep_delay_s=0.0,
        rate_limit=RequestFault(first_n=4, rate=0.3),
        server_errors=RequestFault(first_n=1, rate=0.05),
    )
    with start_simulator(scenario) as sim, infobip_client(sim, backoff_scale=0.05) as client:
        started = time.monotonic()
        listed = list(
            client.list_recordings(
                started_from=scenario.start_at - timedelta(days=1),
                started_to=scenario.start_at + timedelta(days=1),
                page_size=10,
            )
        )
        results = {
            r.recording_id: client.download(r.recording_id, tmp_path / r.recording_id)
            for r in listed
        }
        elapsed = time.monotonic() - started
        stats = client.stats
        throttled = sum(n for (_, status), n in sim.request_counts.items() if status == 429)
        errors = sum(n for (_, status), n in sim.request_counts.items() if status >= 500)
        assert len(results) == 40
        assert all(res.sha256 == sim.media_sha256(rid) for rid, res in results.items())
    assert throttled >= 8 and errors >= 2 and stats.rate_limited == throttled
    assert stats.retries == throttled + errors
    report(
        f"429 storm: {stats.requests} requests, {throttled} answered 429 and {errors} 5xx, "
        f"{stats.retries} retries, all 40 recordings listed and downloaded intact "
        f"in {elapsed:.1f} s (back-off sleeps scaled x0.05)"
    )


def test_video_preparation_flow(start_simulator: StartSimulator, tmp_path: Path) -> None:
    scenario = Scenario(
        seed=3, count=20, video_ratio=0.5, prep_delay_s=0.4, prep_failures=RecordingPick(count=1)
    )
    with start_simulator(scenario) as sim, infobip_client(sim) as client:
        (failing,) = sim.ids_with("prep_failures")
        videos = [
            str(e["recordingId"])
            for e in sim.recordings()
            if e["mediaType"] == "AUDIO_AND_VIDEO" and e["recordingId"] != failing
        ]
        video = videos[0]
        assert client.get_video_preparation(video).status is PreparationState.NOT_REQUESTED
        with pytest.raises(RecordingNotReady):
            client.download(video, tmp_path / "early.mp4")
        requested = client.request_video_preparation(video)
        assert (requested.recording_id, requested.status) == (video, PreparationState.PREPARING)
        assert client.request_video_preparation(failing).status is PreparationState.PREPARING
        deadline = time.monotonic() + 10
        while client.get_video_preparation(video).status is PreparationState.PREPARING:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert client.get_video_preparation(video).status is PreparationState.READY
        result = client.download(video, tmp_path / "video.mp4")
        assert (
            result.sha256 == sim.media_sha256(video)
            and result.content_type == "application/octet-stream"
        )
        time.sleep(0.4)
        failed = client.get_video_preparation(failing)
        assert failed.status is PreparationState.FAILED
        assert failed.reason == scenario.prep_failure_reason
        audio = next(str(e["recordingId"]) for e in sim.recordings() if e["mediaType"] == "AUDIO")
        with pytest.raises(SourceBadRequest, match="not a video recording"):
            client.request_video_preparation(audio)


def test_account_switch_makes_videos_ready_without_a_request(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    scenario = Scenario(seed=4, count=10, video_ratio=1.0, video_download_preparation=True)
    with start_simulator(scenario) as sim, infobip_client(sim) as client:
        config = client.get_account_recording_config()
        assert config.video_download_preparation is True
        assert config.media_type == "AUDIO_AND_VIDEO"
        video = str(sim.recordings()[0]["recordingId"])
        deadline = time.monotonic() + 10
        while client.get_video_preparation(video).status is not PreparationState.READY:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert client.download(video, tmp_path / "v.mp4").sha256 == sim.media_sha256(video)
        assert sim.count("prepare") == 0


def test_deleted_recordings_stay_listed_and_cannot_be_downloaded(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    scenario = audio_scenario(count=5)
    with start_simulator(scenario) as sim, infobip_client(sim) as client:
        rid = str(sim.recordings()[2]["recordingId"])
        deleted = client.delete_recording(rid)
        assert deleted is not None and deleted.recording_id == rid
        assert deleted.deleted_at is not None and deleted.deleted_by
        assert sim.deleted == {rid}
        with pytest.raises(SourceNotFound):
            client.download(rid, tmp_path / "gone.wav")
        assert not (tmp_path / "gone.wav").exists()
        listed = {
            r.recording_id: r
            for r in client.list_recordings(
                started_from=scenario.start_at - timedelta(days=1),
                started_to=scenario.start_at + timedelta(days=1),
            )
        }
        assert listed[rid].deleted_at == deleted.deleted_at
        with pytest.raises(SourceNotFound):
            client.delete_recording(rid)


def test_recordings_not_ready_or_gone_raise_typed_errors(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    scenario = audio_scenario(
        count=4,
        not_ready=NotReadyFault(recordings=RecordingPick(indices=(0,))),
        failed=RecordingPick(indices=(1,)),
    )
    with start_simulator(scenario) as sim, infobip_client(sim) as client:
        not_ready, failed, fine = (str(e["recordingId"]) for e in sim.recordings()[:3])
        for rid in (not_ready, failed):
            with pytest.raises(SourceNotFound, match="not found"):
                client.download(rid, tmp_path / rid)
        with pytest.raises(DownloadIntegrityError):
            client.download(fine, tmp_path / "x", expected_size_bytes=sim.media_size(fine) + 1)
