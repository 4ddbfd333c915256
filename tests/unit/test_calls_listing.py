"""CallsSource.list_recordings: paging, the window, and each entity kind mapped to files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from models.errors import ConfigError, SourceBadRequest
from storage.infobip.files import format_calls_time, parse_calls_time
from tests.unit.calls_fakes import (
    CALLS,
    CONFERENCES,
    DIALOGS,
    EMPTY,
    SINCE,
    UNTIL,
    at,
    call,
    file,
    group,
    legacy,
    lists,
    make_source,
    page,
)


def test_calls_time_format_round_trips() -> None:
    moment = datetime(2026, 1, 15, 12, 0, 0, 150_000, tzinfo=UTC)
    assert format_calls_time(moment) == "2026-01-15T12:00:00.150+0000"
    assert parse_calls_time("2026-01-15T12:00:00.150+0000") == moment
    assert parse_calls_time("2026-01-15T14:00:00.150+02:00") == moment
    assert parse_calls_time("2026-01-15T12:00:00.150Z") == moment
    assert parse_calls_time("yesterday") is None
    assert parse_calls_time(None) is None


def test_pages_each_list_until_total_pages_with_window_filters() -> None:
    seen: list[tuple[str, dict[str, str]]] = []
    pages = {
        0: [call("c1", [file("f1")]), call("c2", [file("f2")])],
        1: [call("c3", [file("f3")]), call("c4", [file("f4")])],
        2: [call("c5", [file("f5")])],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen.append((request.url.path, params))
        if request.url.path != CALLS:
            return httpx.Response(200, json=EMPTY)
        number = int(params["page"])
        return httpx.Response(200, json=page(pages[number], number=number, size=2, total=3))

    with make_source(handler, page_size=2) as source:
        ids = [r.recording_id for r in source.list_recordings(since=SINCE, until=UNTIL)]
    assert ids == ["f1", "f2", "f3", "f4", "f5"]
    assert [path for path, _ in seen] == [CONFERENCES, DIALOGS, CALLS, CALLS, CALLS]
    assert [p["page"] for path, p in seen if path == CALLS] == ["0", "1", "2"]
    first = seen[0][1]
    assert first["startTimeAfter"] == "2026-01-14T23:59:59.999+0000"  # "after" is exclusive
    assert first["endTimeBefore"] == "2026-01-17T00:00:00.000+0000"  # until + a day's span
    assert first["size"] == "2"
    assert "location" not in first


def test_an_empty_page_ends_a_list_whatever_total_pages_says() -> None:
    calls_seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != CALLS:
            return httpx.Response(200, json=EMPTY)
        calls_seen.append(request.url.params["page"])
        if request.url.params["page"] == "0":
            return httpx.Response(200, json=page([call("c1", [file("f1")])], size=1, total=9))
        return httpx.Response(200, json=page([], number=1, size=1, total=9))

    with make_source(handler, page_size=1) as source:
        assert [r.recording_id for r in source.list_recordings(since=SINCE, until=UNTIL)] == ["f1"]
    assert calls_seen == ["0", "1"]


def test_call_files_map_to_recordings() -> None:
    recording = call(
        "call-1",
        [
            file("f-audio", size=4321, duration=61),
            file("f-video", fmt="MP4", startTime=None, creationTime=at(13, 0)),
        ],
        direction="OUTBOUND",
        status="PARTIALLY_FAILED",
        reason="Recording postprocessing failed",
    )
    with make_source(lists(calls=[recording]), location="FRANKFURT") as source:
        audio, video = source.list_recordings(since=SINCE, until=UNTIL)
    assert audio.source == "calls" and audio.recording_id == "f-audio"
    assert audio.call_id == "call-1" and audio.conference_id is None
    assert audio.direction == "OUTBOUND" and audio.status == "PARTIALLY_FAILED"
    assert audio.media_type == "AUDIO" and video.media_type == "AUDIO_AND_VIDEO"
    assert audio.filename == "f-audio_1768478400000.wav"
    assert audio.duration_s == 61 and audio.size_bytes == 4321
    assert audio.started_at == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert video.started_at == datetime(2026, 1, 15, 13, 0, tzinfo=UTC)  # creationTime fallback
    assert audio.participant_identity == "447700900123" and audio.participant_type is None
    assert not audio.composed
    raw = audio.raw
    assert raw["fileId"] == "f-audio" and raw["entity"] == "call" and raw["entityId"] == "call-1"
    assert raw["location"] == "FRANKFURT" and raw["fileLocation"] == "HOSTED"
    assert raw["reason"] == "Recording postprocessing failed"
    assert raw["file"]["size"] == 4321


def test_conference_composed_and_participant_files() -> None:
    webrtc = {"type": "WEBRTC", "identity": "ada.berg", "displayName": "Ada Berg"}
    conference = group(
        "conferenceId",
        "conf-1",
        conferenceName="Support",
        composed=[file("f-composed", fmt="MP4")],
        calls=[
            call("leg-1", [file("f-leg-1")]),
            call("leg-2", [file("f-leg-2")], endpoint=webrtc, direction="OUTBOUND"),
        ],
    )
    with make_source(lists(conferences=[conference])) as source:
        composed, leg1, leg2 = source.list_recordings(since=SINCE, until=UNTIL)
    assert composed.recording_id == "f-composed" and composed.composed
    assert composed.conference_id == "conf-1" and composed.call_id is None
    assert composed.status is None and composed.direction is None
    assert composed.media_type == "AUDIO_AND_VIDEO"
    assert composed.participant_identity is None
    assert composed.raw["entity"] == "conference" and composed.raw["entityId"] == "conf-1"
    assert leg1.conference_id == "conf-1" and leg1.call_id == "leg-1" and not leg1.composed
    assert leg1.raw["callId"] == "leg-1"
    assert leg2.participant_identity == "ada.berg" and leg2.participant_name == "Ada Berg"
    assert leg2.direction == "OUTBOUND"


@pytest.mark.parametrize(
    ("endpoint", "identity"),
    [
        ({"type": "SIP", "username": "alice", "sipTrunkId": "trunk-1"}, "alice"),
        ({"type": "WEBSOCKET", "websocketEndpointConfigId": "ws-1", "identifier": "bot"}, "bot"),
        ({"type": "WEBSOCKET", "websocketEndpointConfigId": "ws-1"}, "ws-1"),
        ({"type": "VIBER", "phoneNumber": "12025550142"}, "12025550142"),
        ({"type": "WHATSAPP", "phoneNumber": "12025550143"}, "12025550143"),
        ({"type": "CARRIER_PIGEON", "name": "Percy"}, None),
    ],
)
def test_dialog_participants_identity_by_endpoint_type(
    endpoint: dict[str, str], identity: str | None
) -> None:
    dialog = group("dialogId", "dlg-1", calls=[call("leg-1", [file("f1")], endpoint=endpoint)])
    with make_source(lists(dialogs=[dialog])) as source:
        (rec,) = source.list_recordings(since=SINCE, until=UNTIL)
    assert rec.conference_id == "dlg-1" and rec.raw["entity"] == "dialog"
    assert rec.participant_identity == identity
    assert rec.raw["endpointType"] == endpoint["type"]


def test_a_file_listed_twice_is_yielded_once_with_its_conference() -> None:
    leg = call("leg-1", [file("f-shared")])
    conference = group("conferenceId", "conf-1", calls=[leg])
    with make_source(lists(calls=[leg, call("c2", [file("f2")])], conferences=[conference])) as src:
        recordings = list(src.list_recordings(since=SINCE, until=UNTIL))
    assert [r.recording_id for r in recordings] == ["f-shared", "f2"]
    assert recordings[0].conference_id == "conf-1"


def test_entities_outside_the_window_are_left_to_their_own_window() -> None:
    before = call("early", [file("f-early")], startTime="2026-01-14T23:59:59.999+0000")
    inside = call("inside", [file("f-inside")], startTime="2026-01-15T00:00:00.000+0000")
    after = call("late", [file("f-late")], startTime="2026-01-16T00:00:00.000+0000")
    unknown = call("unknown", [file("f-unknown", startTime=None, creationTime=None)])
    del unknown["startTime"]
    with make_source(lists(calls=[before, inside, after, unknown])) as source:
        recordings = list(source.list_recordings(since=SINCE, until=UNTIL))
    assert [r.recording_id for r in recordings] == ["f-inside", "f-unknown"]
    # No time anywhere: kept, placed at the window's start and flagged.
    assert recordings[1].started_at == SINCE and recordings[1].raw["startTimeMissing"]


def test_files_without_an_id_and_entities_without_files_give_nothing() -> None:
    no_id = file("x")
    del no_id["id"]
    failed = call("c-failed", [], status="FAILED", reason="Recording failed")
    with make_source(lists(calls=[call("c1", [no_id]), failed])) as source:
        assert list(source.list_recordings(since=SINCE, until=UNTIL)) == []


def test_window_must_be_aware_and_not_empty() -> None:
    with make_source(lists()) as source:
        with pytest.raises(ConfigError, match="timezone-aware"):
            source.list_recordings(since=datetime(2026, 1, 15), until=UNTIL)
        with pytest.raises(ConfigError, match="empty"):
            source.list_recordings(since=UNTIL, until=UNTIL - timedelta(seconds=1))
    with pytest.raises(ConfigError, match="page_size"):
        make_source(lists(), page_size=101)


def test_a_bad_request_is_not_retried_and_names_the_route() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return legacy(400, "BAD_REQUEST", "Request is invalid.")

    with make_source(handler) as source, pytest.raises(SourceBadRequest) as info:
        list(source.list_recordings(since=SINCE, until=UNTIL))
    assert "/calls/1/recordings/conferences" in str(info.value)
    assert source.stats()["requests"] == 1


def test_a_server_that_ignores_page_does_not_loop_for_ever() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != CALLS:
            return httpx.Response(200, json=EMPTY)
        return httpx.Response(200, json={"results": [call("c1", [file("f1")])]})  # no paging

    with make_source(handler, page_size=1) as source:
        assert [r.recording_id for r in source.list_recordings(since=SINCE, until=UNTIL)] == ["f1"]
        assert source.stats()["requests"] == 4  # conferences, dialogs, calls page 0 and 1
