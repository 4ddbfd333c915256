"""Catalog tables (SQLModel). The same schema runs on SQLite and PostgreSQL.

All datetimes are timezone-aware UTC: ``UTCDateTime`` stores them naive-UTC where the database
has no time zone type (SQLite) and gives them back aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import JSON, Column, Field, SQLModel

from models.states import RecordingState


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the catalog; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StateString(TypeDecorator[RecordingState]):
    """A recording state stored as its name and read back as a ``RecordingState``, so callers
    can compare and format it (a load event doing the same cost more than the query per row
    when a search returns thousands)."""

    impl = sa.String(24)
    cache_ok = True

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> RecordingState | None:
        return None if value is None else RecordingState(value)


def _dt(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), index=index, nullable=nullable))


class Recording(SQLModel, table=True):
    __tablename__ = "recordings"
    # The searches' combined filters (migration 0010): a status over a period, a queue with
    # a media type, an agent's conversations (read from the index alone).
    __table_args__ = (
        sa.Index("ix_recordings_state_started_at", "state", "started_at"),
        sa.Index(
            "ix_recordings_participant_conversation",
            "participant_id",
            "participant_type",
            "conversation_id",
        ),
        sa.Index("ix_recordings_from_queue_media_type", "transferred_from_queue", "media_type"),
        sa.Index("ix_recordings_to_queue_media_type", "transferred_to_queue", "media_type"),
    )

    recording_id: str = Field(primary_key=True, max_length=128)
    source: str = Field(
        default="conversations",
        index=True,
        max_length=32,
        sa_column_kwargs={"server_default": "conversations"},
    )
    conversation_id: str | None = Field(default=None, index=True, max_length=128)
    conference_id: str | None = Field(default=None, max_length=128)
    call_id: str | None = Field(default=None, index=True, max_length=128)
    direction: str | None = Field(default=None, max_length=32)
    recording_status: str | None = Field(default=None, max_length=32)
    composed: bool = False
    filename: str | None = Field(default=None, max_length=512)
    duration_s: int | None = None
    participant_id: str | None = Field(default=None, index=True, max_length=128)
    # Personal data: cleared when the recording expires (the tombstone keeps ids and hashes).
    participant_identity: str | None = Field(default=None, index=True, max_length=256)
    participant_name: str | None = Field(default=None, max_length=256)
    # Set when the row becomes a tombstone (with RECVAULT_IDENTITY_KEY): the keyed hash of the
    # cleared identity, so a participant hold placed later still finds the person's
    # conversations, whose other legs carry their voice.
    participant_identity_hmac: str | None = Field(default=None, index=True, max_length=64)
    participant_type: str | None = Field(default=None, index=True, max_length=32)
    media_type: str = Field(default="AUDIO", max_length=32)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), index=True, nullable=False))
    source_deleted_at: datetime | None = _dt()
    source_deleted_by: str | None = Field(default=None, max_length=128)
    sftp_path: str | None = Field(default=None, max_length=1024)
    transferred_from: str | None = Field(default=None, max_length=128)
    transferred_to: str | None = Field(default=None, max_length=128)
    transferred_from_queue: str | None = Field(default=None, max_length=128)
    transferred_to_queue: str | None = Field(default=None, max_length=128)
    raw: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))

    state: RecordingState = Field(
        default=RecordingState.DISCOVERED,
        sa_column=Column(StateString(), index=True, nullable=False),
    )
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    next_attempt_at: datetime | None = _dt(index=True)
    preparation_status: str | None = Field(default=None, max_length=32)
    source_sha256: str | None = Field(default=None, max_length=64)
    source_size_bytes: int | None = Field(default=None, sa_column=Column(sa.BigInteger()))
    # Set when the source served different bytes on another attempt (QUARANTINED evidence).
    conflicting_sha256: str | None = Field(default=None, max_length=64)
    probe: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    policy_rule: str | None = Field(default=None, max_length=128)
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_until: datetime | None = _dt()
    discovered_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    archived_at: datetime | None = _dt()
    expired_at: datetime | None = _dt()
    # Retention evidence (migration 0002): the hash that was verified when recvault deleted the
    # source copy, and the tombstone's retain-until date and reason (retention or erasure).
    source_deleted_sha256: str | None = Field(default=None, max_length=64)
    retain_until: datetime | None = _dt()
    expired_reason: str | None = Field(default=None, max_length=512)


class ArchivedObject(SQLModel, table=True):
    __tablename__ = "archived_objects"
    __table_args__ = (sa.UniqueConstraint("recording_id", "kind", name="uq_object_recording_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    recording_id: str = Field(foreign_key="recordings.recording_id", index=True, max_length=128)
    kind: str = Field(max_length=16)  # "original" | "transcoded"
    bucket: str = Field(max_length=63)
    key: str = Field(max_length=1024, index=True)
    version_id: str | None = Field(default=None, max_length=1024)
    size_bytes: int = Field(sa_column=Column(sa.BigInteger(), nullable=False))
    sha256: str = Field(max_length=64)
    checksum_method: str | None = Field(default=None, max_length=32)  # how verify compared
    content_type: str | None = Field(default=None, max_length=128)
    codec: str | None = Field(default=None, max_length=128)
    duration_s: float | None = None
    retain_until: datetime | None = _dt()
    lock_mode: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    verified_at: datetime | None = _dt()
    deleted_at: datetime | None = _dt()


class AuditEvent(SQLModel, table=True):
    """Append-only. ``hash`` chains each event to the previous one (sha256 of prev_hash + body)."""

    __tablename__ = "audit_events"

    # An event type over a period (migration 0010) reads only those events of the period.
    __table_args__ = (sa.Index("ix_audit_events_event_at", "event", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    recording_id: str | None = Field(default=None, index=True, max_length=128)
    event: str = Field(max_length=64)
    from_state: str | None = Field(default=None, max_length=24)
    to_state: str | None = Field(default=None, max_length=24)
    actor: str = Field(max_length=128)
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str = Field(max_length=64)


class RunLock(SQLModel, table=True):
    """One row per named lock; a run holds it with a lease (SQLite has no row locks)."""

    __tablename__ = "run_locks"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=128)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class LegalHold(SQLModel, table=True):
    """A legal hold: blocks every deletion of the recordings its scope covers until released.

    ``scope_kind`` is ``conversation`` (a conversationId), ``call`` (a callId) or ``participant``
    (every conversation in which a participant identity or id took part).
    """

    __tablename__ = "legal_holds"

    id: int | None = Field(default=None, primary_key=True)
    scope_kind: str = Field(max_length=16)
    scope_value: str = Field(max_length=256, index=True)
    # A participant scope's keyed hash: matches tombstones, whose identity is gone.
    scope_hmac: str | None = Field(default=None, max_length=64)
    reason: str = Field(max_length=2000)
    case_ref: str = Field(max_length=256, index=True)
    placed_by: str = Field(max_length=128)
    placed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    released_by: str | None = Field(default=None, max_length=128)
    released_at: datetime | None = _dt(index=True)


class LegalHoldRecording(SQLModel, table=True):
    """The recordings whose S3 objects a hold has put under S3 legal hold, and when."""

    __tablename__ = "legal_hold_recordings"

    hold_id: int = Field(foreign_key="legal_holds.id", primary_key=True)
    recording_id: str = Field(
        foreign_key="recordings.recording_id", primary_key=True, max_length=128, index=True
    )
    versions: int = 0
    applied_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class DeletionInProgress(SQLModel, table=True):
    """A deletion of one recording's copy (at the source or in the bucket) under way: written
    in the same transaction that found no legal hold covering it, removed in the one that
    records the deletion. A hold placed meanwhile waits for it to finish (its lease bounds the
    wait when the deleting process died)."""

    __tablename__ = "deletions_in_progress"

    recording_id: str = Field(primary_key=True, max_length=128)
    kind: str = Field(max_length=16)  # "source" | "archive"
    holder: str = Field(max_length=128)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class RecordingTotal(SQLModel, table=True):
    """How many recordings the catalog holds, in its one row: added to by the insert that adds
    them (rows never go: an expired recording stays as a tombstone), so a search with no filter
    gives its exact total without counting a million rows."""

    __tablename__ = "recording_totals"

    id: int = Field(default=1, primary_key=True)
    recordings: int = Field(default=0, sa_column=Column(sa.BigInteger(), nullable=False))


class ParticipantWord(SQLModel, table=True):
    """Each word of a recording's participant name, case-folded: what lets ``--agent martin``
    find "Hugo Martin" through an index (a word inside a string has none). Personal data like
    the name itself: its rows go when the recording becomes a tombstone."""

    __tablename__ = "participant_words"

    word: str = Field(primary_key=True, max_length=256)
    recording_id: str = Field(
        foreign_key="recordings.recording_id", primary_key=True, max_length=128, index=True
    )


class ErasedIdentity(SQLModel, table=True):
    """A person whose recordings an erasure request deleted, by the keyed hash of their
    identity only: later runs do not archive that person's recordings from before the
    request again."""

    __tablename__ = "erased_identities"

    identity_hmac: str = Field(primary_key=True, max_length=64)
    erased_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    request_id: str = Field(max_length=32)


class Backfill(SQLModel, table=True):
    """A backfill over [since, until) in chunks; ``cursor`` is where the next chunk starts, so
    an interrupted backfill resumes there when asked again for the same period and chunk."""

    __tablename__ = "backfills"
    __table_args__ = (sa.UniqueConstraint("since", "until", "chunk_s", name="uq_backfill_period"),)

    id: int | None = Field(default=None, primary_key=True)
    since: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    until: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    chunk_s: int
    cursor: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    chunks_total: int = 0
    chunks_done: int = 0
    listed: int = 0
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = _dt()


class ConversationTranscript(SQLModel, table=True):
    """The canonical JSON transcript of one conversation's messages: its current object
    version in the bucket. Earlier versions stay in the bucket under the same lock; each
    version's upload is an audit event (``transcript_archived``)."""

    __tablename__ = "transcripts"

    conversation_id: str = Field(primary_key=True, max_length=128)
    source: str = Field(default="conversations", max_length=32)
    bucket: str = Field(max_length=63)
    key: str = Field(max_length=1024)
    version_id: str | None = Field(default=None, max_length=1024)
    sha256: str = Field(max_length=64)
    size_bytes: int = Field(sa_column=Column(sa.BigInteger(), nullable=False))
    message_count: int = 0
    last_message_at: datetime | None = _dt()
    # ARCHIVED (the object is there), EXPIRED or ERASED (every version deleted).
    status: str = Field(default="ARCHIVED", max_length=16, index=True)
    versions: int = 0  # versions recvault has written
    retain_until: datetime | None = _dt()
    lock_mode: str | None = Field(default=None, max_length=16)
    archived_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    verified_at: datetime | None = _dt()
    deleted_at: datetime | None = _dt()
