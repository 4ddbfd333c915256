"""Calls API recording answers as the catalog sees them: one ``SourceRecording`` per file.

A Calls recording (docs/infobip.md, "The Calls API") is an entity, a call, a conference or a dialog,
holding files: a call's own ``files``, a conference's or dialog's ``composedFiles`` (everyone
merged) and the ``files`` of each participant's call inside ``callRecordings``. recvault
archives files, so each file becomes one recording whose id is the file ``id`` (the one that
``/calls/1/recordings/files/{fileId}`` downloads and deletes), and ``raw`` keeps what acting on
it later needs: the file, its entity, the recording location and the recording's status.

Nothing here talks HTTP; ``storage.infobip.calls`` pages the lists and acts on the files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from models.ports import SourceRecording

log = logging.getLogger(__name__)

SOURCE_NAME = "calls"
EntityKind = Literal["call", "conference", "dialog"]

# Where each kind of entity is listed and read (one path per entity, "{id}" filled in).
ENTITY_IDS: dict[EntityKind, str] = {
    "call": "callId",
    "conference": "conferenceId",
    "dialog": "dialogId",
}
ENTITY_LISTS: dict[EntityKind, str] = {
    "call": "/calls/1/recordings/calls",
    "conference": "/calls/1/recordings/conferences",
    "dialog": "/calls/1/recordings/dialogs",
}
ENTITY_PATHS: dict[EntityKind, str] = {
    kind: f"{path}/{{{ENTITY_IDS[kind]}}}" for kind, path in ENTITY_LISTS.items()
}
FILE_PATH = "/calls/1/recordings/files/{fileId}"

# Which endpoint field names the participant, by endpoint type (Infobip's CallEndpoint).
_IDENTITY_FIELDS = {
    "PHONE": "phoneNumber",
    "VIBER": "phoneNumber",
    "WHATSAPP": "phoneNumber",
    "WEBRTC": "identity",
    "SIP": "username",
    "WEBSOCKET": "identifier",
}


def format_calls_time(at: datetime) -> str:
    """``yyyy-MM-dd'T'HH:mm:ss.SSS+0000``, the Calls API's query format."""
    if at.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def parse_calls_time(value: object) -> datetime | None:
    """A Calls date-time (``...+0000``, ``...+00:00`` or ``...Z``) in UTC; None if unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def entity_start(entity: Mapping[str, Any]) -> datetime | None:
    return parse_calls_time(entity.get("startTime"))


def file_ids_of(entity: Mapping[str, Any]) -> set[str]:
    """Every file id an entity answer still lists, wherever in it the file sits."""
    found: set[str] = set()
    groups: list[Any] = [entity.get("files"), entity.get("composedFiles")]
    for call in _dicts(entity.get("callRecordings")):
        groups.append(call.get("files"))
    for group in groups:
        for file in _dicts(group):
            file_id = file.get("id")
            if isinstance(file_id, str):
                found.add(file_id)
    return found


@dataclass(frozen=True)
class Entity:
    """One list element and what the files inside it need to know about it."""

    kind: EntityKind
    body: Mapping[str, Any]
    location: str | None  # the recording location (data centre) the list was asked for

    @property
    def entity_id(self) -> str | None:
        value = self.body.get(ENTITY_IDS[self.kind])
        return value if isinstance(value, str) and value else None

    def recordings(self, *, fallback_start: datetime) -> Iterator[SourceRecording]:
        """Each file of the entity as a recording (files without an id cannot be acted on)."""
        if self.kind == "call":
            yield from self._files(self.body, composed=False, fallback_start=fallback_start)
            return
        composed = _dicts(self.body.get("composedFiles"))
        yield from self._map_files(composed, None, composed=True, fallback_start=fallback_start)
        for call in _dicts(self.body.get("callRecordings")):
            yield from self._files(call, composed=False, fallback_start=fallback_start)

    def _files(
        self, call: Mapping[str, Any], *, composed: bool, fallback_start: datetime
    ) -> Iterator[SourceRecording]:
        files = _dicts(call.get("files"))
        yield from self._map_files(files, call, composed=composed, fallback_start=fallback_start)

    def _map_files(
        self,
        files: list[Mapping[str, Any]],
        call: Mapping[str, Any] | None,
        *,
        composed: bool,
        fallback_start: datetime,
    ) -> Iterator[SourceRecording]:
        for position, file in enumerate(files):
            file_id = file.get("id")
            if not isinstance(file_id, str) or not file_id:
                log.warning(
                    "calls file without an id skipped entity=%s entity_id=%s position=%d",
                    self.kind,
                    self.entity_id or "-",
                    position,
                )
                continue
            yield self._recording(file_id, file, call, composed=composed, fallback=fallback_start)

    def _recording(
        self,
        file_id: str,
        file: Mapping[str, Any],
        call: Mapping[str, Any] | None,
        *,
        composed: bool,
        fallback: datetime,
    ) -> SourceRecording:
        call = call or {}
        sent = call.get("endpoint")
        endpoint: Mapping[str, Any] = sent if isinstance(sent, dict) else {}
        identity, display_name = endpoint_identity(endpoint)
        status = _str(call.get("status"))
        started_at = (
            parse_calls_time(file.get("startTime"))
            or parse_calls_time(file.get("creationTime"))
            or parse_calls_time(call.get("startTime"))
            or entity_start(self.body)
        )
        raw: dict[str, Any] = {
            "fileId": file_id,
            "entity": self.kind,
            "entityId": self.entity_id,
            "callId": _str(call.get("callId")),
            "location": self.location,
            "fileLocation": _str(file.get("location")),
            "sftpUploadStatus": _str(file.get("sftpUploadStatus")),
            "recordingStatus": status,
            "reason": _str(call.get("reason")),
            "endpointType": _str(endpoint.get("type")),
            "composed": composed,
            "file": dict(file),
        }
        if started_at is None:
            # Unknown times never drop a file: it is placed at the window's start and flagged.
            started_at = fallback
            raw["startTimeMissing"] = True
        return SourceRecording(
            source=SOURCE_NAME,
            recording_id=file_id,
            started_at=started_at,
            media_type="AUDIO_AND_VIDEO" if file.get("fileFormat") == "MP4" else "AUDIO",
            status=status,
            conference_id=self.entity_id if self.kind != "call" else None,
            call_id=_str(call.get("callId")),
            direction=_str(call.get("direction")),
            composed=composed,
            filename=_str(file.get("name")),
            duration_s=_int(file.get("duration")),
            participant_identity=identity,
            participant_name=display_name,
            participant_type=None,
            size_bytes=_int(file.get("size")),
            raw=raw,
        )


def endpoint_identity(endpoint: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(identity, display name)`` of a CallEndpoint, by its ``type``; unknown types give None."""
    field = _IDENTITY_FIELDS.get(str(endpoint.get("type")))
    identity = _str(endpoint.get(field)) if field else None
    if identity is None and endpoint.get("type") == "WEBSOCKET":
        identity = _str(endpoint.get("websocketEndpointConfigId"))
    display = _str(endpoint.get("displayName")) if endpoint.get("type") == "WEBRTC" else None
    return identity, display


def window_query(since: datetime, until: datetime, span: timedelta) -> dict[str, str]:
    """The list filters for entities that started in ``[since, until)``.

    ``startTimeAfter`` is read as exclusive, so it starts one millisecond early. Infobip's
    ``endTimeBefore`` filters on the *end* of the last recording: bounding it by ``until``
    would drop a call that straddles ``until`` from this window and (having started before
    the next window) from the next one too. So it is ``until`` plus the longest recording
    span recvault expects, and the exact start bound is applied to the answers.
    """
    return {
        "startTimeAfter": format_calls_time(since - timedelta(milliseconds=1)),
        "endTimeBefore": format_calls_time(until + span),
    }


def _dicts(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
