"""Builders shared by the tests/unit/test_calls_*.py modules: Calls API answers and a source.

The JSON shapes follow Infobip's Voice spec (PublicCallRecording, PublicConferenceRecording,
PublicDialogRecording, PublicRecordingFile; docs/infobip.md, "The Calls API").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from models.ports import SourceRecording
from models.tables import Recording
from storage.infobip.calls import CallsSource
from tests.unit.infobip_fakes import API_KEY, BASE_URL, FakeClock

Handler = Callable[[httpx.Request], httpx.Response]
CALLS = "/calls/1/recordings/calls"
CONFERENCES = "/calls/1/recordings/conferences"
DIALOGS = "/calls/1/recordings/dialogs"
FILES = "/calls/1/recordings/files/"
SINCE = datetime(2026, 1, 15, 0, 0, tzinfo=UTC)
UNTIL = datetime(2026, 1, 16, 0, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0, second: int = 0, ms: int = 0) -> str:
    """A Calls date-time on 2026-01-15, in the API's own format."""
    return f"2026-01-15T{hour:02d}:{minute:02d}:{second:02d}.{ms:03d}+0000"


def file(file_id: str, *, fmt: str = "WAV", size: int = 1000, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": file_id,
        "name": f"{file_id}_1768478400000.{fmt.lower()}",
        "fileFormat": fmt,
        "size": size,
        "creationTime": at(12, 1),
        "duration": 30,
        "startTime": at(12, 0),
        "endTime": at(12, 0, 30),
        "location": "HOSTED",
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def call(call_id: str, files: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "callId": call_id,
        "endpoint": {"type": "PHONE", "phoneNumber": "447700900123"},
        "direction": "INBOUND",
        "files": files,
        "status": "SUCCESSFUL",
        "callsConfigurationId": "dc5942707c704551a00cd2ea",
        "platform": {"applicationId": "61c060db2675060027d8c7a6"},
        "startTime": at(12, 0),
        "endTime": at(12, 0, 30),
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def group(
    id_field: str,
    entity_id: str,
    *,
    composed: Sequence[dict[str, Any]] = (),
    calls: Sequence[dict[str, Any]] = (),
    **extra: Any,
) -> dict[str, Any]:
    """A conference (``conferenceId``) or dialog (``dialogId``) recording."""
    body: dict[str, Any] = {
        id_field: entity_id,
        "callsConfigurationId": "dc5942707c704551a00cd2ea",
        "composedFiles": list(composed),
        "callRecordings": list(calls),
        "startTime": at(12, 0),
        "endTime": at(12, 5),
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def page(results: list[dict[str, Any]], *, number: int = 0, size: int = 100, total: int = 1) -> Any:
    count = len(results) if total <= 1 else size * total
    paging = {"page": number, "size": size, "totalPages": total, "totalResults": count}
    return {"results": results, "paging": paging}


EMPTY = page([], total=0)


def legacy(status: int, message_id: str, text: str) -> httpx.Response:
    body = {"requestError": {"serviceException": {"messageId": message_id, "text": text}}}
    return httpx.Response(status, json=body)


class Lists:
    """Answers the three lists in one page each, and each listed entity by its id."""

    def __init__(
        self,
        calls: Iterable[dict[str, Any]],
        conferences: Iterable[dict[str, Any]],
        dialogs: Iterable[dict[str, Any]],
    ) -> None:
        self.answers = {CALLS: list(calls), CONFERENCES: list(conferences), DIALOGS: list(dialogs)}
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.seen.append(path)
        if path in self.answers:
            results = self.answers[path]
            return httpx.Response(200, json=page(results) if results else EMPTY)
        parent, _, entity_id = path.rpartition("/")
        id_field = {CALLS: "callId", CONFERENCES: "conferenceId", DIALOGS: "dialogId"}[parent]
        for entity in self.answers[parent]:
            if entity.get(id_field) == entity_id:
                return httpx.Response(200, json=entity)
        return legacy(404, "NOT_FOUND", "Resource was not found.")


def lists(
    calls: Iterable[dict[str, Any]] = (),
    conferences: Iterable[dict[str, Any]] = (),
    dialogs: Iterable[dict[str, Any]] = (),
) -> Lists:
    return Lists(calls, conferences, dialogs)


def make_source(handler: Handler, clock: FakeClock | None = None, **kwargs: Any) -> CallsSource:
    clock = clock or FakeClock()
    options: dict[str, Any] = {"sleep": clock.sleep, "clock": clock, "deletion": "calls-files"}
    options.update(kwargs)
    return CallsSource(BASE_URL, API_KEY, transport=httpx.MockTransport(handler), **options)


def row_of(rec: SourceRecording) -> Recording:
    """The catalog row an upsert of ``rec`` would make."""
    return Recording(
        recording_id=rec.recording_id,
        source=rec.source,
        conference_id=rec.conference_id,
        call_id=rec.call_id,
        direction=rec.direction,
        recording_status=rec.status,
        composed=rec.composed,
        filename=rec.filename,
        duration_s=rec.duration_s,
        participant_identity=rec.participant_identity,
        media_type=rec.media_type,
        started_at=rec.started_at,
        raw=dict(rec.raw),
    )
