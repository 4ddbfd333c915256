"""InfobipClient.list_recordings against the simulator over real HTTP."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Literal

import pytest

from models.errors import SourceAuthError
from models.source import RecordingMetadata
from simulator.scenario import RecordingPick, RequestFault, Scenario, ShiftFault
from storage.infobip.client import InfobipClient
from tests.fixtures.simulator import StartSimulator, infobip_client

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)


def list_window(
    client: InfobipClient, scenario: Scenario, **kwargs: object
) -> list[RecordingMetadata]:
    return list(
        client.list_recordings(
            started_from=scenario.start_at - DAY,
            started_to=scenario.start_at + 10 * DAY,
            **kwargs,  # type: ignore[arg-type]
        )
    )


@pytest.mark.parametrize("position", ["earlier", "later", "random"])
def test_shifting_duplicated_pages_yield_every_recording_exactly_once(
    start_simulator: StartSimulator, position: Literal["earlier", "later", "random"]
) -> None:
    scenario = Scenario(
        seed=21,
        count=60,
        duplicates=RecordingPick(count=6),
        shift=ShiftFault(inserts_per_page=2, position=position, max_inserts=20),
    )
    with start_simulator(scenario) as sim:
        initial = {str(e["recordingId"]) for e in sim.recordings()}
        with infobip_client(sim) as client:
            listed = list_window(client, scenario, page_size=7)
        ids = [r.recording_id for r in listed]
        arrived = {str(e["recordingId"]) for e in sim.recordings()} - initial
        assert sim.count("metadata", 200) > 60 // 7, "many pages were served"
    assert len(arrived) == 20, "recordings arrived while the listing ran"
    assert Counter(ids).most_common(1)[0][1] == 1, "no recording twice"
    assert initial <= set(ids), f"missed {len(initial - set(ids))} recordings"
    assert set(ids) <= initial | arrived
    starts = [r.started_at for r in listed]
    assert starts == sorted(starts), "oldest first"


def test_listing_survives_throttling_and_server_errors(start_simulator: StartSimulator) -> None:
    scenario = Scenario(
        seed=5,
        count=40,
        rate_limit=RequestFault(first_n=3, rate=0.2, endpoints=("metadata",)),
        server_errors=RequestFault(rate=0.1, endpoints=("metadata",)),
    )
    with start_simulator(scenario) as sim:
        with infobip_client(sim, backoff_scale=0.05) as client:
            listed = list_window(client, scenario, page_size=5)
            stats = client.stats
        failures = sim.count("metadata") - sim.count("metadata", 200)
        expected = {str(e["recordingId"]) for e in sim.recordings()}
    assert {r.recording_id for r in listed} == expected and len(listed) == 40
    assert failures >= 3 and stats.retries == failures
    assert stats.rate_limited == sim.count("metadata", 429)


def test_window_and_filters_reach_the_server(start_simulator: StartSimulator) -> None:
    scenario = Scenario(seed=8, count=30)
    with start_simulator(scenario) as sim, infobip_client(sim) as client:
        everything = sim.recordings()
        low, high = everything[5]["startedAt"], everything[20]["startedAt"]
        window = {
            r.recording_id
            for r in client.list_recordings(
                started_from=RecordingMetadata.model_validate(everything[5]).started_at_dt,
                started_to=RecordingMetadata.model_validate(everything[20]).started_at_dt,
            )
        }
        conversation = str(everything[0]["conversationId"])
        legs = {
            r.recording_id
            for r in client.list_recordings(
                started_from=scenario.start_at - DAY,
                started_to=scenario.start_at + DAY,
                conversationId=conversation,
            )
        }
    assert window == {str(e["recordingId"]) for e in everything if low <= e["startedAt"] <= high}
    assert legs == {
        str(e["recordingId"]) for e in everything if e["conversationId"] == conversation
    }


def test_client_limiter_stays_within_infobips_published_limits(
    start_simulator: StartSimulator, report: Callable[[str], None]
) -> None:
    scenario = Scenario(seed=2, count=18, enforce_rate_limits=True)
    with start_simulator(scenario) as sim, infobip_client(sim) as client:
        started = time.monotonic()
        listed = list_window(client, scenario, page_size=1)
        elapsed = time.monotonic() - started
        requests, throttled = sim.count("metadata"), sim.count("metadata", 429)
    assert len(listed) == 18 and requests > 30
    # Pacing exactly at 10/s means network jitter can make a request arrive a hair early at
    # the server's own bucket: a rare 429 is expected (and retried), a stream of them is not.
    assert throttled <= max(1, requests // 20)
    assert elapsed >= (requests - throttled - 20) / 10 * 0.8
    report(f"limiter: {requests} metadata requests in {elapsed:.1f} s, {throttled} answered 429")


def test_wrong_api_key_is_an_auth_error(start_simulator: StartSimulator) -> None:
    scenario = Scenario(count=2)
    with start_simulator(scenario) as sim:
        client = InfobipClient(sim.base_url, "not-the-key")
        with client, pytest.raises(SourceAuthError) as caught:
            list_window(client, scenario)
        assert sim.count("metadata", 401) == 1
    assert "not-the-key" not in str(caught.value)
