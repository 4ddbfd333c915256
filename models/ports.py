"""What the pipeline needs from the world, as small Protocols (the ports).

Flows depend on these, never on a concrete client; ``storage/`` holds the adapters behind them
and ``recvault/wiring.py`` is the one place that picks and builds them. Adapters translate
their third-party errors into ``models.errors`` at the seam, so a step only ever handles the
error tree; the unit tests' in-memory fakes of these ports raise the same errors.

The source side is deliberately narrow: a source lists what it holds, says whether one
recording can be downloaded now (and starts any preparation it needs), streams its bytes, and
deletes its own copy only with a confirmation. Everything specific to one source (Infobip's
status words, video preparation modes, which routes exist) stays inside its adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from models.search import AuditQuery, RecordingQuery, SearchResult
from models.tables import ArchivedObject, AuditEvent, LegalHold, Recording

# --- the source side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRecording:
    """One recording as a source lists it, in the catalog's terms (one participant leg)."""

    source: str  # the adapter's name: "conversations", "calls"
    recording_id: str  # unique within the source; the catalog's key
    started_at: datetime  # timezone-aware UTC
    media_type: str = "AUDIO"  # "AUDIO" | "AUDIO_AND_VIDEO"
    status: str | None = None  # the source's own word for the recording's state, as sent
    conversation_id: str | None = None
    conference_id: str | None = None
    call_id: str | None = None
    direction: str | None = None
    composed: bool = False
    filename: str | None = None
    duration_s: int | None = None
    participant_id: str | None = None
    participant_identity: str | None = None
    participant_name: str | None = None
    participant_type: str | None = None
    deleted_at: datetime | None = None
    deleted_by: str | None = None
    sftp_path: str | None = None
    transferred_from: str | None = None
    transferred_to: str | None = None
    transferred_from_queue: str | None = None
    transferred_to_queue: str | None = None
    size_bytes: int | None = None  # when the source publishes it (Calls files do)
    raw: Mapping[str, Any] = field(default_factory=dict)  # the element as the source sent it
    # The listing held something unexpected but the recording is kept: the kind, for the run
    # summary's "needs attention" (e.g. "metadata id is not an integer").
    attention: str | None = None


class Readiness(StrEnum):
    READY = "READY"  # download now
    PREPARING = "PREPARING"  # the source is making it downloadable; ask again soon
    WAITING = "WAITING"  # not final at the source yet; ask again later
    FAILED = "FAILED"  # the source says this recording failed (retryable up to max attempts)
    GONE = "GONE"  # deleted at the source before it was archived


@dataclass(frozen=True)
class ReadinessReport:
    state: Readiness
    reason: str | None = None
    status: str | None = None  # the source's status word to remember in the catalog
    preparation: str | None = None  # the source's preparation status word, if it prepares
    retryable: bool = True  # FAILED only: may a later attempt succeed?
    # WAITING because of an answer nobody documented (an unknown recordingStatus or media
    # type): the kind, counted under "needs attention" in the run summary.
    attention: str | None = None


@dataclass(frozen=True)
class Download:
    path: Path
    size_bytes: int
    sha256: str
    resumes: int  # requests that continued a partial file
    content_type: str | None
    # The source checks each resume against the bytes already on disk; this is the offset of
    # the first resume that found them changed (the file is stitched from two versions).
    changed_at_resume: int | None = None


@dataclass(frozen=True)
class DeletionReceipt:
    """A confirmed deletion at the source: how it was confirmed, in words for the certificate."""

    recording_id: str
    confirmed_by: str  # e.g. "metadata shows deletedAt", "download answers 404"
    deleted_at: datetime | None = None


class RecordingSource(Protocol):
    name: str

    def list_recordings(self, *, since: datetime, until: datetime) -> Iterator[SourceRecording]:
        """Every recording that started in [since, until), each at least once."""
        ...

    def readiness(self, recording: Recording, *, refresh: bool = False) -> ReadinessReport:
        """Can ``recording`` be downloaded now? Re-reads the source as needed and may start a
        preparation the source needs; GONE when the source deleted it. ``refresh`` re-reads
        the source even when the catalog already holds a final status."""
        ...

    def download(
        self, recording: Recording, dest: Path, *, on_progress: Callable[[int], None] | None
    ) -> Download:
        """Stream the bytes into ``dest``, resuming a partial file already there.

        Raises ``RecordingNotReady`` when the media is not downloadable yet and
        ``SourceNotFound`` when the source answers that it does not have it."""
        ...

    def deletion_unavailable(self) -> str | None:
        """Why this source deletes nothing under the configured profile (source deletion is
        off), or None: then ``delete`` may be called. Retention reports such deletions as due."""
        ...

    def delete(self, recording: Recording) -> DeletionReceipt:
        """Delete the source copy and confirm it by reading back; raises if unconfirmed
        (``DeletionNotConfirmed``) or when the profile has no way to delete this recording
        (``SourceDeletionUnavailable``)."""
        ...

    def stats(self) -> Mapping[str, int]: ...

    def close(self) -> None: ...


@runtime_checkable
class MessageSource(Protocol):
    """A source that also holds the conversations' messages (Infobip Conversations)."""

    name: str

    def list_messages(self, conversation_id: str) -> Iterator[Mapping[str, Any]]:
        """Every message of the conversation, as the source sent it (a message may repeat
        when its pages shifted); a conversation it does not know raises a ``SourceError``
        (Infobip answers 400 ``NOT_FOUND`` or 404)."""
        ...

    def list_conversations(self, *, since: datetime, until: datetime) -> Iterator[str]:
        """Ids of the conversations updated in [since, until]."""
        ...


class SharedRateLimits(Protocol):
    """Rate limits shared by every process that talks to one Infobip account (workers on many
    machines), beside each process's own token buckets. ``limits``: operation class ->
    (requests per second, burst)."""

    def ensure(self, limits: Mapping[str, tuple[float, int]]) -> None: ...

    def acquire(self, op: str) -> None: ...


# --- catalog ------------------------------------------------------------------------------------


class CatalogReader(Protocol):
    """What read-only users (search, verify, the auditor API) may do: no method writes."""

    def get(self, recording_id: str) -> Recording: ...

    def objects(self, recording_id: str) -> list[ArchivedObject]: ...

    def counts_by_state(self) -> dict[str, int]: ...

    def search(
        self,
        *,
        conversation_id: str | None = None,
        call_id: str | None = None,
        agent: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status: str | None = None,
        recording_id: str | None = None,
        limit: int | None = None,
    ) -> list[tuple[Recording, list[ArchivedObject]]]: ...

    def audit_events(self, recording_id: str | None = None) -> list[AuditEvent]: ...

    def find(self, query: RecordingQuery, *, widen: bool = True) -> SearchResult:
        """Recordings matching ``query`` (a page of them) and how many match in all."""
        ...

    def iter_found(self, query: RecordingQuery) -> Iterator[tuple[Recording, list[ArchivedObject]]]:
        """Every recording matching ``query``, a page at a time."""
        ...

    def resolve_recording_id(self, text: str) -> str:
        """The whole id ``text`` names (itself, or the one id starting with it); raises
        ``RecordingNotFound`` or, when it starts several, ``ConfigError``."""
        ...

    def history(self, recording_id: str) -> list[AuditEvent]:
        """The recording's audit events in chain order."""
        ...

    def audit_log(self, query: AuditQuery) -> list[AuditEvent]: ...

    def holds_covering(self, recording_id: str, *, exclude: Sequence[int] = ()) -> list[int]: ...

    def list_holds(self, *, include_released: bool = False) -> list[LegalHold]: ...

    def close(self) -> None: ...


class AccessLog(Protocol):
    """Where a read-only surface records who looked at what: the audit chain's one append.
    A reader's only write; it can change no recording."""

    def append_audit(
        self,
        *,
        event: str,
        actor: str,
        at: datetime,
        recording_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEvent: ...


class PlaybackLinks(Protocol):
    """Short-lived links that let a browser fetch one archived object version directly from
    the store (the signature is a credential: never log a link)."""

    def presigned_get(
        self,
        key: str,
        *,
        version_id: str | None,
        expires_s: int,
        content_type: str | None = None,
        download_name: str | None = None,
    ) -> str: ...
