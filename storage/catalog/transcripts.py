"""The catalog's transcripts: one row per conversation, its current object version, and the
audit event of every version written or deleted.

Mixed into ``storage.catalog.store.Catalog`` like the retention side: each method is one short
transaction, and a change commits together with its audit event. Audit events carry ids,
hashes, sizes and counts only, never a message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from models.errors import CatalogError
from models.states import VERIFIED, RecordingState
from models.tables import ConversationTranscript, Recording
from models.transcripts import ARCHIVED
from storage.catalog import holds
from storage.catalog.audit import PendingEvent, append_events
from storage.catalog.leases import insert_ignoring_conflict
from storage.catalog.rows import require_aware


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def transcript_detail(row: ConversationTranscript) -> dict[str, Any]:
    return {
        "conversation_id": row.conversation_id,
        "source": row.source,
        "bucket": row.bucket,
        "key": row.key,
        "version_id": row.version_id,
        "sha256": row.sha256,
        "size_bytes": row.size_bytes,
        "message_count": row.message_count,
        "last_message_at": _iso(row.last_message_at),
        "retain_until": _iso(row.retain_until),
        "lock_mode": row.lock_mode,
    }


class TranscriptCatalog:
    """Transcript rows. ``_tx`` is the catalog's one-transaction session."""

    def _tx(self, *, write: bool = False) -> AbstractContextManager[Session]:
        raise NotImplementedError  # provided by Catalog

    def transcript(self, conversation_id: str) -> ConversationTranscript | None:
        with self._tx() as session:
            return session.get(ConversationTranscript, conversation_id)

    def transcripts(
        self, conversation_ids: Iterable[str] | None = None, *, status: str | None = None
    ) -> list[ConversationTranscript]:
        """Transcripts by conversation id (all of them when ``conversation_ids`` is None)."""
        stmt = sa.select(ConversationTranscript).order_by(
            col(ConversationTranscript.conversation_id)
        )
        if conversation_ids is not None:
            wanted = sorted({c for c in conversation_ids if c})
            if not wanted:
                return []
            stmt = stmt.where(col(ConversationTranscript.conversation_id).in_(wanted))
        if status is not None:
            stmt = stmt.where(col(ConversationTranscript.status) == status)
        with self._tx() as session:
            return list(session.scalars(stmt))

    def transcripts_after_recordings(
        self, conversation_ids: Iterable[str] | None = None
    ) -> list[ConversationTranscript]:
        """Archived transcripts whose conversation has recordings, all of them EXPIRED: the
        candidates for deletion, found in one statement however large the catalog."""
        conversation = col(ConversationTranscript.conversation_id)
        legs = sa.select(col(Recording.recording_id)).where(
            col(Recording.conversation_id) == conversation
        )
        live = legs.where(col(Recording.state) != RecordingState.EXPIRED.value)
        stmt = (
            sa.select(ConversationTranscript)
            .where(
                col(ConversationTranscript.status) == ARCHIVED,
                legs.exists(),
                ~live.exists(),
            )
            .order_by(conversation)
        )
        if conversation_ids is not None:
            wanted = sorted({c for c in conversation_ids if c})
            if not wanted:
                return []
            stmt = stmt.where(conversation.in_(wanted))
        with self._tx() as session:
            return list(session.scalars(stmt))

    def record_transcript(
        self, row: ConversationTranscript, *, at: datetime, actor: str
    ) -> ConversationTranscript:
        """Stores the verified current version (a new row, or a new version of an archived
        transcript) with its ``transcript_archived`` event."""
        require_aware("at", at)
        with self._tx(write=True) as session:
            # Two runs may archive the same conversation at once: the first row wins the
            # insert, the other run's version (a real object version too) becomes the next one.
            values = {
                **row.model_dump(exclude={"versions", "archived_at", "updated_at"}),
                "versions": 1,
                "archived_at": at,
                "updated_at": at,
            }
            inserted = insert_ignoring_conflict(
                session, ConversationTranscript, "conversation_id", values
            )
            current = session.get(
                ConversationTranscript,
                row.conversation_id,
                with_for_update=True,
                populate_existing=True,
            )
            if current is None:
                raise CatalogError(f"transcript of conversation {row.conversation_id} vanished")
            if not inserted:
                if current.status != ARCHIVED:
                    raise CatalogError(
                        f"transcript of conversation {row.conversation_id} is {current.status}: "
                        "a deleted transcript is not written again"
                    )
                for name in (
                    "bucket",
                    "key",
                    "version_id",
                    "sha256",
                    "size_bytes",
                    "message_count",
                    "last_message_at",
                    "retain_until",
                    "lock_mode",
                    "verified_at",
                ):
                    setattr(current, name, getattr(row, name))
                current.versions += 1
                current.updated_at = at
            session.flush()
            append_events(
                session,
                [
                    PendingEvent(
                        "transcript_archived",
                        actor,
                        at,
                        detail={**transcript_detail(current), "version": current.versions},
                    )
                ],
            )
            return current

    def record_transcript_verified(
        self, conversation_id: str, *, version_id: str | None, at: datetime
    ) -> None:
        require_aware("at", at)
        with self._tx(write=True) as session:
            row = session.get(ConversationTranscript, conversation_id, with_for_update=True)
            if row is not None and row.version_id == version_id:
                row.verified_at = at

    def record_transcript_deleted(
        self,
        conversation_id: str,
        *,
        status: str,
        event: str,
        at: datetime,
        actor: str,
        certificate: dict[str, Any],
    ) -> ConversationTranscript:
        """Every version is gone: the row stays as a tombstone (ids, hash, dates) with the
        deletion's certificate in the audit log."""
        require_aware("at", at)
        with self._tx(write=True) as session:
            row = session.get(ConversationTranscript, conversation_id, with_for_update=True)
            if row is None:
                raise CatalogError(f"no transcript of conversation {conversation_id}")
            row.status = status
            row.deleted_at = at
            row.updated_at = at
            append_events(session, [PendingEvent(event, actor, at, detail=certificate)])
            return row

    def conversations_archived_since(self, at: datetime) -> list[str]:
        """Conversations with a recording that became ARCHIVED at or after ``at`` (a run's
        start): their recordings may have started long before the run's window."""
        require_aware("at", at)
        stmt = (
            sa.select(col(Recording.conversation_id))
            .where(
                col(Recording.archived_at) >= at,
                col(Recording.conversation_id).is_not(None),
                col(Recording.state).in_([s.value for s in VERIFIED]),
            )
            .distinct()
        )
        with self._tx() as session:
            return sorted(c for c in session.scalars(stmt) if c)

    def conversations_with_holds(self, conversation_ids: Sequence[str]) -> dict[str, list[int]]:
        """conversation id -> ids of the active holds covering any of its recordings."""
        wanted = set(conversation_ids)
        found: dict[str, set[int]] = {}
        with self._tx() as session:
            for hold in holds.active_holds(session):
                stmt = sa.select(col(Recording.conversation_id)).where(
                    holds.covered_condition(hold.scope_kind, hold.scope_value)
                )
                for conversation_id in session.scalars(stmt):
                    if conversation_id in wanted:
                        found.setdefault(conversation_id, set()).add(hold.id or 0)
        return {c: sorted(ids) for c, ids in found.items()}
