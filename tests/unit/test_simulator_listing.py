"""Metadata listing in the simulator: validation, filters, sorting, paging and shifting pages."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.errors import ApiError
from simulator.listing import parse_query
from simulator.scenario import NotReadyFault, RecordingPick, Scenario, ShiftFault
from simulator.state import SimulatorState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_state(scenario: Scenario) -> tuple[SimulatorState, FakeClock]:
    clock = FakeClock()
    return SimulatorState(scenario, clock=clock), clock


def list_all(state: SimulatorState, **params: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    page = 0
    while True:
        body = state.list_metadata({**params, "page": str(page)})
        out.extend(body["elements"])
        page += 1
        if page >= body["totalPages"]:
            return out


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"size": "0"}, "size: must be greater than or equal to 1"),
        ({"size": "1000"}, "size: must be less than or equal to 999"),
        ({"page": "-1"}, "page: must be greater than or equal to 0"),
        ({"page": "x"}, "page: must be a valid number"),
        ({"startedAtFrom": "2026-01-01"}, "startedAtFrom: must be a valid number"),
        ({"sortBy": "secret"}, "sortBy: unknown property 'secret'"),
        ({"sortDirection": "UP"}, "sortDirection: must be one of ASC, DESC"),
    ],
)
def test_bad_queries_get_400_with_infobips_messages(params: dict[str, str], message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_query(params)
    assert caught.value.status == 400
    assert caught.value.body() == {"status": "ERROR", "message": message}


def test_page_body_has_elements_total_and_total_pages() -> None:
    state, _ = make_state(Scenario(count=45))
    body = state.list_metadata({"size": "20", "page": "2"})
    assert set(body) == {"elements", "total", "totalPages"}
    assert (body["total"], body["totalPages"], len(body["elements"])) == (45, 3, 5)
    assert state.list_metadata({"page": "9"})["elements"] == []
    default = state.list_metadata({})
    assert len(default["elements"]) == 20


def test_paging_in_default_order_returns_each_element_once_oldest_first() -> None:
    state, _ = make_state(Scenario(count=57))
    listed = list_all(state, size="10")
    assert len(listed) == 57
    assert len({e["recordingId"] for e in listed}) == 57
    starts = [e["startedAt"] for e in listed]
    assert starts == sorted(starts)


def test_filters_select_by_equality_and_inclusive_ranges() -> None:
    state, _ = make_state(Scenario(count=60, video_ratio=0.4))
    everything = state.recordings()
    target = everything[7]
    assert [e["recordingId"] for e in list_all(state, recordingId=target["recordingId"])] == [
        target["recordingId"]
    ]
    same_conversation = list_all(state, conversationId=target["conversationId"], size="999")
    assert {e["recordingId"] for e in same_conversation} == {
        e["recordingId"] for e in everything if e["conversationId"] == target["conversationId"]
    }
    videos = list_all(state, mediaType="AUDIO_AND_VIDEO", size="999")
    assert videos and all(e["mediaType"] == "AUDIO_AND_VIDEO" for e in videos)
    agents = list_all(state, participantType="AGENT", size="999")
    assert agents and all(e["participantType"] == "AGENT" for e in agents)
    low, high = everything[10]["startedAt"], everything[20]["startedAt"]
    window = list_all(state, startedAtFrom=str(low), startedAtTo=str(high), size="999")
    assert {e["recordingId"] for e in window} == {
        e["recordingId"] for e in everything if low <= e["startedAt"] <= high
    }
    assert low in {e["startedAt"] for e in window} and high in {e["startedAt"] for e in window}


def test_sorting_by_field_and_direction() -> None:
    state, _ = make_state(Scenario(count=30))
    durations = [e["duration"] for e in list_all(state, sortBy="duration", sortDirection="DESC")]
    assert durations == sorted(durations, reverse=True)
    ids = [e["id"] for e in list_all(state, sortBy="id", sortDirection="desc", size="7")]
    assert ids == list(range(30, 0, -1))


def test_duplicates_repeat_an_element_on_the_next_page() -> None:
    state, _ = make_state(Scenario(count=40, duplicates=RecordingPick(count=3)))
    listed = list_all(state, size="10")
    ids = [e["recordingId"] for e in listed]
    repeated = {rid for rid in ids if ids.count(rid) == 2}
    assert repeated == state.picks["duplicates"]
    assert len(ids) == 43
    for rid in repeated:
        first, second = (i for i, x in enumerate(ids) if x == rid)
        assert second // 10 > first // 10, "the copy is on a later page"


def test_new_recordings_arrive_after_each_page_and_shift_later_pages() -> None:
    shift = ShiftFault(inserts_per_page=2, position="earlier", max_inserts=6)
    state, _ = make_state(Scenario(count=30, legs_weights=(1, 0, 0), shift=shift))
    initial = {e["recordingId"] for e in state.recordings()}
    first = state.list_metadata({"size": "10", "page": "0"})
    second = state.list_metadata({"size": "10", "page": "1"})
    assert second["total"] == 32
    # Two earlier arrivals pushed the last two elements of page 0 onto page 1.
    assert [e["recordingId"] for e in first["elements"][-2:]] == [
        e["recordingId"] for e in second["elements"][:2]
    ]
    list_all(state, size="10")
    after = {e["recordingId"] for e in state.recordings()}
    assert initial < after and len(after) == 36, "max_inserts bounds the arrivals"


def test_later_arrivals_land_after_the_page_just_served() -> None:
    shift = ShiftFault(inserts_per_page=1, position="later", max_inserts=1)
    state, _ = make_state(Scenario(count=20, legs_weights=(1, 0, 0), shift=shift))
    first = state.list_metadata({"size": "5"})
    arrived = [e for e in state.recordings() if e["id"] == 21]
    assert len(arrived) == 1
    assert arrived[0]["startedAt"] > max(e["startedAt"] for e in first["elements"])


def test_not_ready_recordings_are_in_progress_for_the_first_listings() -> None:
    fault = NotReadyFault(recordings=RecordingPick(indices=(2,)), in_progress_listings=2)
    state, _ = make_state(Scenario(count=5, not_ready=fault))
    rid = state.recordings()[2]["recordingId"]

    def status() -> str:
        body = state.list_metadata({"recordingId": rid})
        return str(body["elements"][0]["recordingStatus"])

    with pytest.raises(ApiError) as caught:
        state.plan_download(rid, None)
    assert caught.value.status == 404
    assert [status(), status(), status()] == ["IN_PROGRESS", "IN_PROGRESS", "SUCCESSFUL"]
    others = {e["recordingStatus"] for e in state.recordings() if e["recordingId"] != rid}
    assert others == {"SUCCESSFUL"}


def test_not_ready_for_some_seconds_after_the_first_listing() -> None:
    fault = NotReadyFault(
        recordings=RecordingPick(indices=(0,)), in_progress_listings=None, in_progress_s=30
    )
    state, clock = make_state(Scenario(count=3, not_ready=fault))
    rid = state.recordings()[0]["recordingId"]
    for _ in range(5):
        assert state.list_metadata({"recordingId": rid})["elements"][0]["recordingStatus"] == (
            "IN_PROGRESS"
        )
    clock.now += 31
    assert state.recordings()[0]["recordingStatus"] == "SUCCESSFUL"


def test_failed_recordings_stay_failed() -> None:
    state, _ = make_state(Scenario(count=6, failed=RecordingPick(indices=(1, 4))))
    statuses = [e["recordingStatus"] for e in list_all(state, sortBy="id")]
    assert statuses == ["SUCCESSFUL", "FAILED", "SUCCESSFUL", "SUCCESSFUL", "FAILED", "SUCCESSFUL"]
