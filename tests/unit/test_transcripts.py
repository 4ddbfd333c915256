"""The transcript's canonical form and the rules that decide what a run fetches and how a
transcript follows its conversation's recordings (``models/transcripts.py``)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from models.keys import transcript_key
from models.states import RecordingState
from models.transcripts import (
    TRANSCRIPT_FORMAT,
    RecordingLock,
    canonical_transcript,
    conversations_to_fetch,
    needs_new_version,
    parse_infobip_time,
    transcript_fate,
    transcript_lock,
)

S = RecordingState
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def message(ident: str, created: str, text: str = "hi", **more: object) -> dict[str, object]:
    return {"id": ident, "createdAt": created, "content": {"text": text}, **more}


A = message("b", "2026-01-05T09:00:01.000+00:00", "Grüße, call me on 447700900123")
B = message("a", "2026-01-05T09:00:01.000+00:00")  # same instant: the id decides
C = message("c", "2026-01-05T10:00:00.000+0100")  # 09:00:00 UTC, first despite its later text


def test_the_same_messages_in_any_order_give_the_same_bytes() -> None:
    first = canonical_transcript("conv-1", [A, B, C])
    again = canonical_transcript("conv-1", [C, A, B, dict(B)])  # a repeat from a shifted page
    assert first.data == again.data
    assert first.sha256 == hashlib.sha256(first.data).hexdigest() == again.sha256
    assert first.message_count == 3


def test_the_canonical_form_is_sorted_compact_utf8() -> None:
    t = canonical_transcript("conv-1", [A, B, C])
    text = t.data.decode("utf-8")
    assert "Grüße" in text and "\\u" not in text  # UTF-8, not escapes
    assert ": " not in text and ", " not in text.replace("Grüße, call", "")
    doc = json.loads(text)
    assert list(doc) == sorted(doc) == ["conversationId", "format", "messages"]
    assert doc["format"] == TRANSCRIPT_FORMAT
    assert [m["id"] for m in doc["messages"]] == ["c", "a", "b"]  # (createdAt, id)
    assert list(doc["messages"][0]) == sorted(doc["messages"][0])
    assert t.last_message_at == datetime(2026, 1, 5, 9, 0, 1, tzinfo=UTC)
    assert t.size_bytes == len(t.data)


def test_a_new_or_changed_message_changes_the_hash() -> None:
    base = canonical_transcript("conv-1", [A, B])
    more = canonical_transcript("conv-1", [A, B, C])
    edited = canonical_transcript("conv-1", [A, {**B, "content": {"text": "edited"}}])
    assert len({base.sha256, more.sha256, edited.sha256}) == 3
    assert needs_new_version(None, base)
    assert needs_new_version(base.sha256, more)
    assert not needs_new_version(base.sha256, canonical_transcript("conv-1", [B, A]))


def test_messages_without_a_readable_time_go_last_in_a_fixed_order() -> None:
    odd = [message("z", "yesterday"), message("y", ""), A]
    doc = json.loads(canonical_transcript("c", odd).data)
    assert [m["id"] for m in doc["messages"]] == ["b", "y", "z"]
    assert parse_infobip_time("2026-01-05T09:00:00.000+0000") == datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert parse_infobip_time("2026-01-05T09:00:00") is None  # no zone: not guessed


def test_the_transcript_key_is_one_per_conversation_outside_the_recordings() -> None:
    assert transcript_key("4461ea29-c09e") == "transcripts/4461ea29-c09e/messages.json"
    assert transcript_key("../x y") == "transcripts/.._x_y/messages.json"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("off", []),
        ("recorded", ["c1", "c2"]),
        ("all", ["c1", "c2", "chat-1"]),
    ],
)
def test_which_conversations_a_run_fetches(mode: str, expected: list[str]) -> None:
    got = conversations_to_fetch(
        mode,  # type: ignore[arg-type]
        recorded=["c2", None, "c1", "c2", "gone"],
        listed=["chat-1", "c1", "gone"],
        finished=["gone"],  # expired or erased: never written again
    )
    assert got == expected


def test_the_transcript_takes_the_latest_and_strictest_lock_of_its_recordings() -> None:
    later = NOW + timedelta(days=400)
    locks = [
        RecordingLock("GOVERNANCE", NOW + timedelta(days=30)),
        RecordingLock("COMPLIANCE", NOW + timedelta(days=10)),
        RecordingLock("GOVERNANCE", later),
        RecordingLock(None, None),
    ]
    assert transcript_lock(locks, now=NOW) == (later, "COMPLIANCE")
    assert transcript_lock([RecordingLock("GOVERNANCE", later)], now=NOW) == (later, "GOVERNANCE")
    assert transcript_lock([RecordingLock(None, None)], now=NOW) == (None, None)
    past = [RecordingLock("COMPLIANCE", NOW - timedelta(days=1))]
    assert transcript_lock(past, now=NOW) == (None, None)  # S3 refuses a date in the past


def test_the_transcript_goes_with_the_last_recording_never_under_a_hold() -> None:
    assert transcript_fate([S.EXPIRED, S.EXPIRED], held=False) == "delete"
    assert transcript_fate([S.EXPIRED, S.EXPIRED], held=True) == "blocked"
    assert transcript_fate([S.EXPIRED, S.ARCHIVED], held=False) == "keep"
    assert transcript_fate([S.EXPIRED, S.SOURCE_DELETED], held=False) == "keep"
    assert transcript_fate([], held=False) == "keep"  # a chat without recordings
