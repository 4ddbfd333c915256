"""Conversation transcripts as pure rules: the canonical bytes, which conversations a run
fetches, and how a transcript follows its conversation's recordings (lock, hold, deletion).

The transcript is evidence like a recording, so the same messages must always give the same
bytes and the same SHA-256: a new object version is written only when the hash changes.
Canonical form: one JSON object ``{"conversationId", "format", "messages"}``, keys sorted at
every level, UTF-8 without escapes, no insignificant whitespace, messages once per id and
ordered by (createdAt, id). Message fields are kept exactly as Infobip sent them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from models.states import RecordingState

TRANSCRIPT_FORMAT = "recvault-transcript/1"
TRANSCRIPT_CONTENT_TYPE = "application/json"
TranscriptMode = Literal["recorded", "all", "off"]
LockMode = Literal["GOVERNANCE", "COMPLIANCE"]
# Catalog status of a transcript: its object is in the bucket, or every version is gone.
ARCHIVED = "ARCHIVED"
EXPIRED = "EXPIRED"
ERASED = "ERASED"


@dataclass(frozen=True)
class Transcript:
    conversation_id: str
    data: bytes
    sha256: str
    message_count: int
    last_message_at: datetime | None

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def parse_infobip_time(value: object) -> datetime | None:
    """``2024-01-01T00:00:00.000+00:00`` (or ``+0000``) as aware UTC; None when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def _order(message: Mapping[str, Any]) -> tuple[bool, float, str]:
    # Messages with an unreadable createdAt go last, still in a fixed order (by id).
    at = parse_infobip_time(message.get("createdAt"))
    return (at is None, at.timestamp() if at else 0.0, str(message.get("id", "")))


def canonical_transcript(conversation_id: str, messages: Iterable[Mapping[str, Any]]) -> Transcript:
    """The transcript's bytes. A message listed twice (paging over a moving list) counts once;
    the later copy wins, since Infobip may have updated it in between."""
    by_id: dict[str, Mapping[str, Any]] = {}
    anonymous: list[Mapping[str, Any]] = []
    for message in messages:
        ident = message.get("id")
        if isinstance(ident, str) and ident:
            by_id[ident] = message
        else:
            anonymous.append(message)
    ordered = sorted([*by_id.values(), *anonymous], key=_order)
    document = {
        "conversationId": conversation_id,
        "format": TRANSCRIPT_FORMAT,
        "messages": [dict(m) for m in ordered],
    }
    data = json.dumps(
        document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
    times = [t for t in (parse_infobip_time(m.get("createdAt")) for m in ordered) if t]
    return Transcript(
        conversation_id=conversation_id,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        message_count=len(ordered),
        last_message_at=max(times) if times else None,
    )


# --- which conversations a run fetches ---------------------------------------------------------


def conversations_to_fetch(
    mode: TranscriptMode,
    *,
    recorded: Iterable[str | None],
    listed: Iterable[str] = (),
    finished: Iterable[str] = (),
) -> list[str]:
    """The conversations whose messages this run reads, sorted, each once.

    ``recorded``: conversations of the window's recordings that are archived (verified);
    ``listed``: every conversation the source lists for the window (used by ``all`` only);
    ``finished``: conversations whose transcript is gone for good (expired or erased): never
    written again, or a deleted transcript would come back.
    """
    if mode == "off":
        return []
    wanted = {c for c in recorded if c}
    if mode == "all":
        wanted |= {c for c in listed if c}
    return sorted(wanted - set(finished))


def needs_new_version(current_sha256: str | None, transcript: Transcript) -> bool:
    """Only a changed transcript is written: the same messages give the same hash."""
    return current_sha256 != transcript.sha256


# --- following the recordings ------------------------------------------------------------------


@dataclass(frozen=True)
class RecordingLock:
    """One archived object's Object Lock, as the catalog recorded it."""

    mode: str | None
    retain_until: datetime | None


def transcript_lock(
    locks: Iterable[RecordingLock], *, now: datetime
) -> tuple[datetime | None, LockMode | None]:
    """The lock a transcript gets: the latest retain-until of its recordings' objects, in the
    strictest mode any of them has (COMPLIANCE over GOVERNANCE). None when no recording is
    locked into the future (S3 refuses a retain-until in the past)."""
    dates = [
        lk.retain_until for lk in locks if lk.mode and lk.retain_until and lk.retain_until > now
    ]
    if not dates:
        return None, None
    modes = {lk.mode for lk in locks if lk.mode}
    mode: LockMode = "COMPLIANCE" if "COMPLIANCE" in modes else "GOVERNANCE"
    return max(dates), mode


Fate = Literal["keep", "delete", "blocked"]


def transcript_fate(states: Sequence[RecordingState | str], *, held: bool) -> Fate:
    """A transcript lives as long as its conversation's recordings: deleted (every version)
    once the last one is EXPIRED (by retention or erasure), never while a legal hold covers
    any recording of the conversation. A conversation without recordings in the catalog
    (``RECVAULT_TRANSCRIPTS=all``) keeps its transcript: no recording decides its end."""
    if not states or any(RecordingState(s) != RecordingState.EXPIRED for s in states):
        return "keep"
    return "blocked" if held else "delete"
