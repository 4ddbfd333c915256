"""Listing: keyset paging over shifting pages, de-duplication, same-timestamp pages, bad rows."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from models.errors import ConfigError, SourceBadRequest, SourceNotFound
from models.source import epoch_ms_to_datetime
from tests.unit.infobip_fakes import make_client

METADATA = "/ccaas/voice/2/recording/metadata"
WINDOW_FROM = epoch_ms_to_datetime(1_000)
WINDOW_TO = epoch_ms_to_datetime(1_000_000)


def element(n: int, started_at: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": n,
        "recordingId": f"rec-{n}",
        "conversationId": f"conv-{n // 2}",
        "participantName": f"Person {n}",
        "participantIdentity": f"+4179302{n:04d}",
        "mediaType": "AUDIO",
        "startedAt": started_at,
        "recordingStatus": "SUCCESSFUL",
        **extra,
    }


class MetadataServer:
    """Infobip's metadata listing over a mutable data set, sorted by startedAt ASC like the API.

    ``before_request`` may change the data set between requests (recordings arriving);
    ``duplicate`` repeats the first element of every page, as Infobip sometimes does.
    """

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.queries: list[dict[str, str]] = []
        self.before_request: Callable[[int], None] | None = None
        self.duplicate = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == METADATA
        query = dict(request.url.params)
        if self.before_request is not None:
            self.before_request(len(self.queries))
        self.queries.append(query)
        rows = sorted(self.rows, key=lambda r: r["startedAt"])  # stable: insertion order ties
        low, high = int(query.get("startedAtFrom", 0)), int(query.get("startedAtTo", 2**62))
        rows = [r for r in rows if low <= r.get("startedAt", 0) <= high]
        if "recordingId" in query:
            rows = [r for r in rows if r.get("recordingId") == query["recordingId"]]
        page, size = int(query.get("page", "0")), int(query.get("size", "20"))
        elements = rows[page * size : (page + 1) * size]
        if self.duplicate and elements:
            elements = [elements[0], *elements]
        body = {"elements": elements, "total": len(rows), "totalPages": math.ceil(len(rows) / size)}
        return httpx.Response(200, json=body)


def listed(server: MetadataServer, **kwargs: Any) -> list[str]:
    with make_client(server) as client:
        return [
            r.recording_id
            for r in client.list_recordings(
                started_from=WINDOW_FROM, started_to=WINDOW_TO, **kwargs
            )
        ]


def test_query_parameters_and_typed_records() -> None:
    server = MetadataServer([element(1, 5_000, futureField={"x": 1})])
    with make_client(server) as client:
        records = list(
            client.list_recordings(
                started_from=datetime(2023, 6, 12, 15, 53, 41, 999000, tzinfo=UTC),
                started_to=datetime(2023, 6, 13, tzinfo=UTC),
                page_size=50,
                conversationId="conv-0",
            )
        )
    first = server.queries[0]
    assert first["startedAtFrom"] == "1686585221999"
    assert first["startedAtTo"] == str(1686585221999 + 29_178_001)
    assert (first["page"], first["size"]) == ("0", "50")
    assert (first["sortBy"], first["sortDirection"]) == ("startedAt", "ASC")
    assert first["conversationId"] == "conv-0"
    assert records == []  # outside that window: the server filtered it out

    records = list(
        make_client(server).list_recordings(started_from=WINDOW_FROM, started_to=WINDOW_TO)
    )
    assert len(records) == 1
    record = records[0]
    assert record.recording_id == "rec-1" and record.started_at == 5_000
    assert record.conversation_id == "conv-0" and record.participant_name == "Person 1"
    assert record.model_extra == {"futureField": {"x": 1}}


def test_all_pages_each_id_once_and_keyset_cursor() -> None:
    rows = [element(n, 2_000 + 10 * n) for n in range(23)]
    server = MetadataServer(rows)
    ids = listed(server, page_size=5)
    assert ids == [f"rec-{n}" for n in range(23)]
    # Every query asks for page 0 from a cursor that only ever moves forward.
    cursors = [int(q["startedAtFrom"]) for q in server.queries]
    assert all(q["page"] == "0" for q in server.queries)
    assert cursors == sorted(cursors) and cursors[0] == 1_000
    assert cursors[1] == rows[4]["startedAt"]


def test_duplicates_inside_pages_are_yielded_once() -> None:
    server = MetadataServer([element(n, 2_000 + n) for n in range(12)])
    server.duplicate = True
    ids = listed(server, page_size=4)
    assert ids == [f"rec-{n}" for n in range(12)]


def test_recordings_arriving_during_listing_shift_pages_without_loss_or_repeat() -> None:
    """New legs appear between requests, some inside the part still to be read: an offset
    pager would repeat or skip elements; the keyset pager yields each exactly once."""
    rows = [element(n, 10_000 + 100 * n) for n in range(20)]
    server = MetadataServer(rows)
    arrivals = {
        1: [element(100, 10_000 + 100 * 15 + 1), element(101, 10_000 + 100 * 19 + 50)],
        2: [element(102, 10_000 + 100 * 12 + 1)],
        3: [element(103, 90_000)],
    }

    def arrive(request_index: int) -> None:
        rows.extend(arrivals.get(request_index, []))

    server.before_request = arrive
    ids = listed(server, page_size=5)
    expected = {f"rec-{n}" for n in [*range(20), 100, 101, 102, 103]}
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected


def test_page_sharing_one_timestamp_falls_back_to_page_numbers() -> None:
    rows = [element(n, 5_000) for n in range(5)] + [element(n, 6_000) for n in range(5, 7)]
    server = MetadataServer(rows)
    ids = listed(server, page_size=2)
    assert ids == [f"rec-{n}" for n in range(7)]
    pages_at_5000 = [q["page"] for q in server.queries if q["startedAtFrom"] == "5000"]
    assert pages_at_5000 == ["0", "1", "2"]
    assert len(server.queries) < 12  # terminates promptly


def test_more_legs_on_one_timestamp_than_a_page_holds() -> None:
    server = MetadataServer([element(n, 7_000) for n in range(9)])
    assert listed(server, page_size=2) == [f"rec-{n}" for n in range(9)]


def test_empty_window() -> None:
    server = MetadataServer([])
    assert listed(server) == []
    assert len(server.queries) == 1


def test_malformed_elements_are_skipped_and_logged_by_position(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rows = [
        element(1, 2_000),
        {"participantName": "Mallory Secret", "startedAt": 2_001},  # no recordingId
        {"recordingId": "rec-x", "participantName": "Mallory Secret"},  # no startedAt
        element(2, 2_002),
    ]
    server = MetadataServer([rows[0], rows[3]])

    def with_bad_rows(request: httpx.Request) -> httpx.Response:
        response = server(request)
        body = response.json()
        if body["elements"] and request.url.params["startedAtFrom"] == "1000":
            body["elements"] = rows
        return httpx.Response(200, json=body)

    with make_client(with_bad_rows) as client:
        ids = [
            r.recording_id
            for r in client.list_recordings(started_from=WINDOW_FROM, started_to=WINDOW_TO)
        ]
    assert ids == ["rec-1", "rec-2"]
    skipped = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(skipped) == 2
    assert "position=1" in skipped[0] and "position=2" in skipped[1]
    assert all("Mallory" not in r.getMessage() for r in caplog.records)


def test_personal_filters_stay_out_of_logs_and_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    name, number = "Alice Example", "+41793026834"

    def handler(request: httpx.Request) -> httpx.Response:
        text = f"participantName '{name}' with identity {number} is invalid"
        return httpx.Response(400, json={"status": "ERROR", "message": text})

    with make_client(handler) as client, pytest.raises(SourceBadRequest) as info:
        list(
            client.list_recordings(
                started_from=WINDOW_FROM,
                started_to=WINDOW_TO,
                participantName=name,
                participantIdentity=number,
            )
        )
    message = str(info.value)
    assert "is invalid" in message and "HTTP 400" in message
    assert name not in message and number not in message and "41793026834" not in message
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage()
        assert "Alice" not in text and "41793026834" not in text


def test_page_size_and_reserved_filters_are_checked() -> None:
    server = MetadataServer([])
    with make_client(server) as client:
        for bad in (0, 1000):
            with pytest.raises(ConfigError):
                list(
                    client.list_recordings(
                        started_from=WINDOW_FROM, started_to=WINDOW_TO, page_size=bad
                    )
                )
        with pytest.raises(ConfigError):
            list(client.list_recordings(started_from=WINDOW_FROM, started_to=WINDOW_TO, page="3"))
        with pytest.raises(ConfigError):
            list(client.list_recordings(started_from=datetime(2024, 1, 1), started_to=WINDOW_TO))
    assert server.queries == []


def test_get_recording_by_id() -> None:
    server = MetadataServer([element(1, 2_000), element(2, 2_001)])
    with make_client(server) as client:
        record = client.get_recording("rec-2")
        assert record.recording_id == "rec-2"
        assert server.queries[-1]["recordingId"] == "rec-2"
        with pytest.raises(SourceNotFound):
            client.get_recording("rec-404")
