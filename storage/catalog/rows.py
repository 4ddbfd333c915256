"""Pure helpers of the catalog: metadata to row values, field checks, public statuses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.errors import ConfigError
from models.source import RecordingMetadata, epoch_ms_to_datetime
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


def source_values(meta: RecordingMetadata) -> dict[str, Any]:
    """The source's view of one recording as column values (no pipeline state)."""
    return {
        "recording_id": meta.recording_id,
        "conversation_id": meta.conversation_id,
        "conference_id": meta.conference_id,
        "call_id": meta.call_id,
        "direction": meta.direction,
        "recording_status": meta.recording_status,
        "composed": meta.composed,
        "filename": meta.filename,
        "duration_s": meta.duration,
        "participant_id": meta.participant_id,
        "participant_identity": meta.participant_identity,
        "participant_name": meta.participant_name,
        "participant_type": meta.participant_type,
        "media_type": str(meta.media_type),
        "started_at": meta.started_at_dt,
        "source_deleted_at": (
            None if meta.deleted_at is None else epoch_ms_to_datetime(meta.deleted_at)
        ),
        "source_deleted_by": meta.deleted_by,
        "sftp_path": meta.sftp_path,
        "transferred_from": meta.transferred_from,
        "transferred_to": meta.transferred_to,
        "transferred_from_queue": meta.transferred_from_queue,
        "transferred_to_queue": meta.transferred_to_queue,
        # by_alias keeps Infobip's own field names; extra="allow" keeps fields we do not know.
        "raw": meta.model_dump(mode="json", by_alias=True),
    }


def new_row_values(meta: RecordingMetadata, *, at: datetime) -> dict[str, Any]:
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
    """The states behind one public status of design.md (PENDING = any in-progress state)."""
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
