"""Pure helpers of the catalog: metadata to row values, field checks, public statuses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.errors import ConfigError
from models.ports import SourceRecording
from models.states import IN_PROGRESS, RecordingState
from models.tables import ArchivedObject, Recording

LAST_ERROR_MAX = 2000
PUBLIC_STATUSES = ("ARCHIVED", "PENDING", "FAILED", "QUARANTINED", "SOURCE_DELETED", "EXPIRED")
# Source fields that Infobip may change after the first listing; everything else about a
# recording (ids, participants, start time) is fixed once it has been seen.
REFRESHED_FIELDS = (
    "recording_status",
    "duration_s",
    "source_deleted_at",
    "source_deleted_by",
    "sftp_path",
    "raw",
)
# Set by the catalog itself: the state moves only through transition(), the key never moves.
_RESERVED_FIELDS = frozenset({"recording_id", "state", "updated_at"})
RECORDING_COLUMNS = frozenset(Recording.__table__.columns.keys())  # type: ignore[attr-defined]
OBJECT_COLUMNS = frozenset(ArchivedObject.__table__.columns.keys())  # type: ignore[attr-defined]


def require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware UTC, got a naive datetime")


def source_values(rec: SourceRecording) -> dict[str, Any]:
    """The source's view of one recording as column values (no pipeline state)."""
    return {
        "recording_id": rec.recording_id,
        "source": rec.source,
        "conversation_id": rec.conversation_id,
        "conference_id": rec.conference_id,
        "call_id": rec.call_id,
        "direction": rec.direction,
        "recording_status": rec.status,
        "composed": rec.composed,
        "filename": rec.filename,
        "duration_s": rec.duration_s,
        "participant_id": rec.participant_id,
        "participant_identity": rec.participant_identity,
        "participant_name": rec.participant_name,
        "participant_type": rec.participant_type,
        "media_type": rec.media_type,
        "started_at": rec.started_at,
        "source_deleted_at": rec.deleted_at,
        "source_deleted_by": rec.deleted_by,
        "sftp_path": rec.sftp_path,
        "transferred_from": rec.transferred_from,
        "transferred_to": rec.transferred_to,
        "transferred_from_queue": rec.transferred_from_queue,
        "transferred_to_queue": rec.transferred_to_queue,
        "raw": dict(rec.raw),
    }


def new_row_values(meta: SourceRecording, *, at: datetime) -> dict[str, Any]:
    return {
        **source_values(meta),
        "state": RecordingState.DISCOVERED.value,
        "attempts": 0,
        "discovered_at": at,
        "updated_at": at,
    }


def refreshed_changes(row: Recording, fresh: dict[str, Any]) -> dict[str, Any]:
    """The refreshable source fields whose value differs from the stored row."""
    changes: dict[str, Any] = {}
    for name in REFRESHED_FIELDS:
        new = fresh[name]
        old = getattr(row, name)
        # A deletion at the source is final: a later listing without it does not undo it.
        if name in ("source_deleted_at", "source_deleted_by") and new is None:
            continue
        if new != old:
            changes[name] = new
    return changes


def check_fields(fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - RECORDING_COLUMNS)
    if unknown:
        raise TypeError(f"unknown recording field(s): {', '.join(unknown)}")
    reserved = sorted(set(fields) & _RESERVED_FIELDS)
    if reserved:
        raise TypeError(f"field(s) set by the catalog itself: {', '.join(reserved)}")
    for name, value in fields.items():
        if isinstance(value, datetime):
            require_aware(name, value)


def states_for_status(status: str) -> frozenset[RecordingState]:
    """The states behind one public status of the CLI (PENDING = any in-progress state)."""
    wanted = status.strip().upper()
    if wanted == "PENDING":
        return IN_PROGRESS
    if wanted not in PUBLIC_STATUSES:
        raise ConfigError(f"unknown status {status!r}: use one of {', '.join(PUBLIC_STATUSES)}")
    return frozenset({RecordingState(wanted)})


def truncate_error(error: str) -> str:
    return error if len(error) <= LAST_ERROR_MAX else error[: LAST_ERROR_MAX - 1] + "…"


def object_values(obj: ArchivedObject) -> dict[str, Any]:
    """Column values of an object to upsert, without its identity."""
    return {
        name: getattr(obj, name) for name in OBJECT_COLUMNS if name not in ("id", "recording_id")
    }
