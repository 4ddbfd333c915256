"""Conversation transcripts at the end of an archive run: the messages of each conversation
the run's window touched, as one canonical JSON object beside its recordings.

For each conversation (``models.transcripts.conversations_to_fetch``): read every message
from the source, build the canonical bytes, and when their SHA-256 differs from the catalog's
current version upload them as a new version of ``transcripts/{conversationId}/messages.json``
with the Object Lock of the conversation's recordings, verify the version, put it under S3
legal hold when a hold covers any recording of the conversation, and record it. Unchanged
messages write nothing. A failure is that conversation's (counted, retried next run); only
catalog and configuration errors stop the run.

Message bodies and senders are personal data: logs carry conversation ids and counts only.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from flows.services import Services
from models.errors import CatalogError, ConfigError, RecvaultError, SourceUnavailable
from models.keys import transcript_key
from models.ports import MessageSource
from models.states import VERIFIED
from models.tables import ConversationTranscript
from models.transcripts import (
    ARCHIVED,
    TRANSCRIPT_CONTENT_TYPE,
    RecordingLock,
    Transcript,
    canonical_transcript,
    conversations_to_fetch,
    needs_new_version,
    transcript_lock,
)

log = logging.getLogger(__name__)

STORED = "stored"  # a new version written
UNCHANGED = "unchanged"
FAILED = "failed"
DEFERRED = "deferred"  # not asked this run: Infobip was unreachable; the next run asks


@dataclass
class TranscriptReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (conversation id, error)


def plan_conversations(
    deps: Services,
    source: MessageSource,
    *,
    since: datetime,
    until: datetime,
    archived_since: datetime | None = None,
    report: TranscriptReport | None = None,
) -> list[str]:
    """The conversations this run reads, by ``RECVAULT_TRANSCRIPTS``: those of the window's
    archived recordings, and those of recordings the run archived (``archived_since``: the
    run's start), whose call may lie before the window (a video prepared late, a retry)."""
    mode = deps.settings.transcripts
    if mode == "off":
        return []
    rows = deps.catalog.search(since=since, until=until)
    recorded = [row.conversation_id for row, _ in rows if row.state in VERIFIED]
    if archived_since is not None:
        recorded += deps.catalog.conversations_archived_since(archived_since)
    listed = _listed(source, since=since, until=until, report=report) if mode == "all" else []
    known = deps.catalog.transcripts({*filter(None, recorded), *listed})
    finished = [t.conversation_id for t in known if t.status != ARCHIVED]
    return conversations_to_fetch(mode, recorded=recorded, listed=listed, finished=finished)


def _listed(
    source: MessageSource, *, since: datetime, until: datetime, report: TranscriptReport | None
) -> list[str]:
    """The window's conversations; when Infobip cannot list them, the run still writes the
    transcripts of its recorded conversations (the failure is reported, the next run lists)."""
    try:
        return list(source.list_conversations(since=since, until=until))
    except (CatalogError, ConfigError):
        raise
    except RecvaultError as exc:
        log.warning("conversations listing failed error=%s", type(exc).__name__)
        if report is not None:
            report.outcomes[FAILED] += 1
            report.errors.append(("(conversations listing)", f"{type(exc).__name__}: {exc}"))
        return []


def archive_transcripts(
    deps: Services, *, since: datetime, until: datetime, archived_since: datetime | None = None
) -> TranscriptReport:
    report = TranscriptReport()
    source = deps.messages
    if source is None or deps.settings.transcripts == "off":
        return report
    planned = plan_conversations(
        deps, source, since=since, until=until, archived_since=archived_since, report=report
    )
    for position, conversation_id in enumerate(planned):
        try:
            outcome = archive_transcript(deps, source, conversation_id)
        except (CatalogError, ConfigError):
            raise
        except RecvaultError as exc:
            log.warning(
                "transcript failed conversation_id=%s error=%s", conversation_id, type(exc).__name__
            )
            outcome = FAILED
            report.errors.append((conversation_id, f"{type(exc).__name__}: {exc}"))
            if isinstance(exc, SourceUnavailable):
                # Infobip stayed unreachable through the whole retry budget: asking for each
                # remaining conversation would spend that budget again and again.
                report.outcomes[FAILED] += 1
                report.outcomes[DEFERRED] += len(planned) - position - 1
                break
        report.outcomes[outcome] += 1
    log.info("transcripts %s", dict(report.outcomes))
    return report


def archive_transcript(deps: Services, source: MessageSource, conversation_id: str) -> str:
    """One conversation: its transcript stored as a new verified version, or left unchanged."""
    transcript = canonical_transcript(conversation_id, source.list_messages(conversation_id))
    current = deps.catalog.transcript(conversation_id)
    if current is not None and current.status != ARCHIVED:
        return UNCHANGED  # expired or erased with its recordings: never written again
    if current is not None and not needs_new_version(current.sha256, transcript):
        return UNCHANGED
    row = _upload(deps, source.name, transcript)
    deps.catalog.record_transcript(row, at=deps.clock(), actor=deps.worker)
    log.info(
        "transcript archived conversation_id=%s version_id=%s messages=%d bytes=%d",
        conversation_id,
        row.version_id,
        row.message_count,
        row.size_bytes,
    )
    return STORED


def _unrecorded_copy(deps: Services, key: str, transcript: Transcript) -> str | None:
    """The version id of these same bytes when they are the key's newest version: the upload
    of a run killed before it recorded the transcript. Adopted, not uploaded again (a second
    version would leave the first one in the bucket with no audit event). The catalog's own
    current version holds other bytes, or the transcript would be unchanged."""
    found = deps.store.head(key)
    if (
        found is None
        or found.sha256 != transcript.sha256
        or found.size_bytes != transcript.size_bytes
        or found.metadata.get("kind") != "transcript"
    ):
        return None
    return found.version_id


def _upload(deps: Services, source_name: str, transcript: Transcript) -> ConversationTranscript:
    conversation_id = transcript.conversation_id
    legs = deps.catalog.recordings_of_conversations([conversation_id])
    locks = [RecordingLock(o.lock_mode, o.retain_until) for _row, objects in legs for o in objects]
    until, mode = transcript_lock(locks, now=deps.clock()) if deps.object_lock else (None, None)
    key = transcript_key(conversation_id)
    version_id = _unrecorded_copy(deps, key, transcript)
    if version_id is not None:
        log.info("transcript adopted conversation_id=%s version_id=%s", conversation_id, version_id)
        if until is not None and mode is not None:
            deps.store.ensure_retention(key, version_id, until, mode)
    else:
        version_id = deps.store.put_bytes(
            key,
            transcript.data,
            content_type=TRANSCRIPT_CONTENT_TYPE,
            metadata={"kind": "transcript", "conversation-id": conversation_id},
            retain_until=until,
            lock_mode=mode,
        ).version_id
    deps.store.verify(
        key, version_id=version_id, sha256=transcript.sha256, size_bytes=transcript.size_bytes
    )
    if deps.catalog.conversations_with_holds([conversation_id]) and deps.object_lock:
        # A hold covers a recording of the conversation: its messages are held as well.
        deps.store.set_legal_hold(key, version_id=version_id, on=True)
    now = deps.clock()
    return ConversationTranscript(
        conversation_id=conversation_id,
        source=source_name,
        bucket=deps.store.bucket,
        key=key,
        version_id=version_id,
        sha256=transcript.sha256,
        size_bytes=transcript.size_bytes,
        message_count=transcript.message_count,
        last_message_at=transcript.last_message_at,
        status=ARCHIVED,
        retain_until=until,
        lock_mode=mode,
        archived_at=now,
        updated_at=now,
        verified_at=now,
    )
