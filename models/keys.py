"""Object keys: the only place that decides where a recording lives in the bucket."""

from __future__ import annotations

import re
from datetime import UTC, datetime

ARCHIVE_PREFIX = "recordings/"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _segment(value: str | None) -> str:
    return _UNSAFE.sub("_", value or "") or "unknown"


def object_key(
    *, started_at: datetime, conversation_id: str | None, recording_id: str, name: str
) -> str:
    """``recordings/{yyyy}/{mm}/{dd}/{conversationId}/{recordingId}/{name}`` (UTC date)."""
    if started_at.tzinfo is None:
        raise ValueError("started_at must be timezone-aware")
    day = started_at.astimezone(UTC)
    return (
        f"{ARCHIVE_PREFIX}{day:%Y}/{day:%m}/{day:%d}/"
        f"{_segment(conversation_id)}/{_segment(recording_id)}/{name}"
    )


TRANSCRIPT_PREFIX = "transcripts/"
TRANSCRIPT_NAME = "messages.json"


def transcript_prefix(conversation_id: str) -> str:
    """``transcripts/{conversationId}/``: outside ``recordings/``, because a conversation's
    messages span its recordings' days and outlive none of them (docs/transcripts.md)."""
    return f"{TRANSCRIPT_PREFIX}{_segment(conversation_id)}/"


def transcript_key(conversation_id: str) -> str:
    """One key per conversation; each changed transcript is a new version of it."""
    return transcript_prefix(conversation_id) + TRANSCRIPT_NAME
