"""Faults over real HTTP, seen by a plain httpx client as a real client would see them."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from simulator.scenario import (
    ConnectionFault,
    NotReadyFault,
    RecordingPick,
    RequestFault,
    Scenario,
)
from simulator.server import SimulatorServer
from tests.fixtures.simulator import StartSimulator

pytestmark = pytest.mark.integration

DOWNLOAD = "/ccaas/voice/2/recording/download/{}"
META = "/ccaas/voice/2/recording/metadata"
SIZE = 2_000_000


def audio_scenario(**fields: Any) -> Scenario:
    """WAV only: no preparation step, and padding is plain PCM."""
    return Scenario(video_ratio=0.0, mp3_ratio=0.0, **fields)


def client_for(sim: SimulatorServer) -> httpx.Client:
    return httpx.Client(
        base_url=sim.base_url, headers={"Authorization": f"App {sim.api_key}"}, timeout=30
    )


def read_until_error(
    client: httpx.Client, rid: str, headers: dict[str, str] | None = None
) -> tuple[bytes, httpx.Response, Exception | None]:
    received = bytearray()
    error: Exception | None = None
    with client.stream("GET", DOWNLOAD.format(rid), headers=headers) as response:
        try:
            for chunk in response.iter_raw():
                received += chunk
        except httpx.TransportError as exc:
            error = exc
    return bytes(received), response, error


def test_dropped_connection_is_a_transport_error_not_a_short_body(
    start_simulator: StartSimulator,
) -> None:
    fault = ConnectionFault(recordings=RecordingPick(indices=(0,)), after_bytes=700_000)
    scenario = audio_scenario(count=2, size_bytes={0: SIZE}, drop=fault)
    with start_simulator(scenario) as sim, client_for(sim) as client:
        (rid,) = sim.ids_with("drop")
        whole = sim.media_bytes(rid)
        received, response, error = read_until_error(client, rid)
        assert response.headers["content-length"] == str(SIZE)
        assert isinstance(error, (httpx.ReadError, httpx.RemoteProtocolError)), error
        assert 0 < len(received) <= 700_000
        assert received == whole[: len(received)]
        # times=1: the next request, resumed with Range, completes.
        rest, response, error = read_until_error(client, rid, {"Range": f"bytes={len(received)}-"})
        assert error is None and response.status_code == 206
        assert hashlib.sha256(received + rest).hexdigest() == sim.media_sha256(rid)


def test_truncated_body_closes_cleanly_after_a_lying_content_length(
    start_simulator: StartSimulator,
) -> None:
    fault = ConnectionFault(recordings=RecordingPick(indices=(1,)), after_bytes=123_457, times=2)
    scenario = audio_scenario(count=2, size_bytes={1: SIZE}, truncate=fault)
    with start_simulator(scenario) as sim, client_for(sim) as client:
        (rid,) = sim.ids_with("truncate")
        whole = sim.media_bytes(rid)
        for attempt in range(2):
            received, response, error = read_until_error(client, rid)
            assert isinstance(error, httpx.RemoteProtocolError), attempt
            assert response.headers["content-length"] == str(SIZE)
            assert f"expected {SIZE}" in str(error)
            assert received == whole[:123_457]
        assert client.get(DOWNLOAD.format(rid)).content == whole


def test_cut_defaults_to_half_of_the_response(start_simulator: StartSimulator) -> None:
    fault = ConnectionFault(recordings=RecordingPick(indices=(0,)))
    scenario = audio_scenario(count=1, size_bytes={0: SIZE}, truncate=fault)
    with start_simulator(scenario) as sim, client_for(sim) as client:
        (rid,) = sim.ids_with("truncate")
        received, _, error = read_until_error(client, rid, {"Range": "bytes=1000000-"})
        assert isinstance(error, httpx.RemoteProtocolError)
        assert received == sim.media_bytes(rid)[1_000_000:1_500_000]


def test_changing_bytes_differ_per_request_with_the_same_size(
    start_simulator: StartSimulator,
) -> None:
    scenario = audio_scenario(count=3, changing_bytes=RecordingPick(indices=(2,)))
    with start_simulator(scenario) as sim, client_for(sim) as client:
        (rid,) = sim.ids_with("changing_bytes")
        bodies = [client.get(DOWNLOAD.format(rid)).content for _ in range(3)]
        assert len({len(b) for b in bodies}) == 1
        assert len({hashlib.sha256(b).hexdigest() for b in bodies}) == 3
        assert hashlib.sha256(bodies[0]).hexdigest() == sim.media_sha256(rid)
        steady = str(sim.recordings()[0]["recordingId"])
        assert (
            client.get(DOWNLOAD.format(steady)).content
            == client.get(DOWNLOAD.format(steady)).content
        )


def test_not_ready_gone_and_failed_recordings_answer_404(start_simulator: StartSimulator) -> None:
    scenario = audio_scenario(
        count=6,
        gone_after_listing=RecordingPick(indices=(0,)),
        failed=RecordingPick(indices=(1,)),
        not_ready=NotReadyFault(recordings=RecordingPick(indices=(2,)), in_progress_listings=1),
    )
    with start_simulator(scenario) as sim, client_for(sim) as client:
        gone, failed, later = (str(e["recordingId"]) for e in sim.recordings()[:3])
        assert client.get(DOWNLOAD.format(gone)).status_code == 200, "before any listing"
        assert client.get(DOWNLOAD.format(later)).status_code == 404, "not listed as ready yet"
        statuses = {
            e["recordingId"]: e["recordingStatus"]
            for e in client.get(META, params={"size": 10}).json()["elements"]
        }
        assert (statuses[gone], statuses[failed], statuses[later]) == (
            "SUCCESSFUL",
            "FAILED",
            "IN_PROGRESS",
        )
        for rid in (gone, failed, later):
            response = client.get(DOWNLOAD.format(rid))
            assert response.status_code == 404
            assert response.json() == {
                "status": "ERROR",
                "message": f"Recording file {rid} not found!",
            }
        relisted = client.get(META, params={"recordingId": later}).json()["elements"][0]
        assert relisted["recordingStatus"] == "SUCCESSFUL"
        assert client.get(DOWNLOAD.format(later)).status_code == 200


def test_first_requests_are_throttled_per_endpoint(start_simulator: StartSimulator) -> None:
    scenario = audio_scenario(count=1, rate_limit=RequestFault(first_n=3))
    with start_simulator(scenario) as sim, client_for(sim) as client:
        rid = str(sim.recordings()[0]["recordingId"])
        downloads = [client.get(DOWNLOAD.format(rid)).status_code for _ in range(4)]
        listings = [client.get(META).status_code for _ in range(4)]
        assert downloads == listings == [429, 429, 429, 200]
        assert sim.request_counts[("download", 429)] == 3
        assert sim.count("metadata") == 4 and sim.count("metadata", 200) == 1
