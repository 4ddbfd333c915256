"""What the API answers, as pydantic models: they are the OpenAPI document's schemas too.

The search element carries the same fields as ``recvault catalog search --json``, so a script
can move between the CLI and the API without renaming anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from models.states import RecordingState, public_status
from models.tables import ArchivedObject, AuditEvent, LegalHold, Recording


class StoredObject(BaseModel):
    bucket: str
    key: str
    version_id: str | None
    sha256: str
    size: int
    kind: str = Field(description="original (the evidence) or transcoded (the playback copy)")
    content_type: str | None
    codec: str | None
    retain_until: datetime | None
    verified_at: datetime | None
    deleted_at: datetime | None

    @classmethod
    def of(cls, obj: ArchivedObject) -> StoredObject:
        return cls(
            bucket=obj.bucket,
            key=obj.key,
            version_id=obj.version_id,
            sha256=obj.sha256,
            size=obj.size_bytes,
            kind=obj.kind,
            content_type=obj.content_type,
            codec=obj.codec,
            retain_until=obj.retain_until,
            verified_at=obj.verified_at,
            deleted_at=obj.deleted_at,
        )


class RecordingOut(BaseModel):
    recording_id: str
    conversation_id: str | None
    call_id: str | None
    conference_id: str | None
    media_type: str
    started_at: datetime
    duration_seconds: int | None
    status: str = Field(
        description="ARCHIVED, PENDING, FAILED, QUARANTINED, SOURCE_DELETED, EXPIRED"
    )
    state: str
    direction: str | None
    participant_type: str | None
    participant_id: str | None
    participant_identity: str | None
    participant_name: str | None
    source_sha256: str | None
    source_size_bytes: int | None
    archived_at: datetime | None
    policy_rule: str | None
    objects: list[StoredObject]

    @classmethod
    def of(cls, row: Recording, objects: list[ArchivedObject]) -> RecordingOut:
        return cls(
            recording_id=row.recording_id,
            conversation_id=row.conversation_id,
            call_id=row.call_id,
            conference_id=row.conference_id,
            media_type=row.media_type,
            started_at=row.started_at,
            duration_seconds=row.duration_s,
            status=public_status(RecordingState(row.state)),
            state=str(RecordingState(row.state)),
            direction=row.direction,
            participant_type=row.participant_type,
            participant_id=row.participant_id,
            participant_identity=row.participant_identity,
            participant_name=row.participant_name,
            source_sha256=row.source_sha256,
            source_size_bytes=row.source_size_bytes,
            archived_at=row.archived_at,
            policy_rule=row.policy_rule,
            objects=[StoredObject.of(o) for o in objects],
        )


class HistoryEntry(BaseModel):
    """One event of the hash-chained audit trail."""

    id: int | None
    at: datetime
    event: str
    from_state: str | None
    to_state: str | None
    actor: str
    detail: dict[str, Any] | None
    prev_hash: str | None
    hash: str

    @classmethod
    def of(cls, event: AuditEvent) -> HistoryEntry:
        return cls(
            id=event.id,
            at=event.at,
            event=event.event,
            from_state=event.from_state,
            to_state=event.to_state,
            actor=event.actor,
            detail=event.detail,
            prev_hash=event.prev_hash,
            hash=event.hash,
        )


class HoldOut(BaseModel):
    id: int | None
    scope_kind: str
    scope_value: str
    reason: str
    case: str
    placed_by: str
    placed_at: datetime
    released_by: str | None
    released_at: datetime | None
    active: bool

    @classmethod
    def of(cls, hold: LegalHold) -> HoldOut:
        return cls(
            id=hold.id,
            scope_kind=hold.scope_kind,
            scope_value=hold.scope_value,
            reason=hold.reason,
            case=hold.case_ref,
            placed_by=hold.placed_by,
            placed_at=hold.placed_at,
            released_by=hold.released_by,
            released_at=hold.released_at,
            active=hold.released_at is None,
        )


class RecordingDetail(BaseModel):
    recording: RecordingOut
    history: list[HistoryEntry]
    holds: list[HoldOut] = Field(description="active legal holds covering the recording")


class Link(BaseModel):
    """A presigned GET link to one object version; it stops working at ``expires_at``."""

    url: str
    expires_at: datetime
    kind: str
    key: str
    version_id: str | None
    sha256: str
    size: int
    content_type: str | None


class Playback(BaseModel):
    recording_id: str
    media_type: str
    link: Link


class Export(BaseModel):
    """An evidence package: the catalog's record, its audit history and links to download
    every archived version, whose SHA-256 the downloader can check against ``objects``."""

    generated_at: datetime
    generated_for: str
    recording: RecordingOut
    history: list[HistoryEntry]
    holds: list[HoldOut]
    downloads: list[Link]


class HoldRequest(BaseModel):
    scope_kind: Literal["conversation", "call", "participant"]
    scope_value: str = Field(min_length=1, max_length=256)
    reason: str = Field(min_length=1, max_length=2000)
    case: str = Field(min_length=1, max_length=256)


class HoldResult(BaseModel):
    hold: HoldOut
    recordings: int = Field(description="recordings the hold covers now")
    versions: int = Field(description="object versions put under (or released from) S3 legal hold")
    s3_legal_hold: str


class Me(BaseModel):
    name: str
    role: str
    expires_at: datetime


class ErrorOut(BaseModel):
    error: str
