"""The auditor's query values (``models.search``): id prefixes, checks, what an audit event
may record of a query."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.errors import ConfigError
from models.search import IdMatch, RecordingQuery, media_type


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ca3b0b11-7f2e", IdMatch("ca3b0b11-7f2e")),
        ("  ca3b0b11  ", IdMatch("ca3b0b11")),
        ("ca3b0b11…", IdMatch("ca3b0b11", prefix=True)),
        ("ca3b0b11*", IdMatch("ca3b0b11", prefix=True)),
        ("ca3b0b11...", IdMatch("ca3b0b11", prefix=True)),
    ],
)
def test_id_match_parses_whole_ids_and_prefixes(text: str, expected: IdMatch) -> None:
    assert IdMatch.parse(text, option="--conversation-id") == expected


@pytest.mark.parametrize("text", ["", "   ", "ab*", "abc…"])
def test_id_match_refuses_empty_and_short_prefixes(text: str) -> None:
    with pytest.raises(ConfigError, match="--call-id"):
        IdMatch.parse(text, option="--call-id")


def test_whole_ids_widen_to_prefixes_only_when_long_enough() -> None:
    query = RecordingQuery(conversation_id=IdMatch("ca3b0b11"), call_id=IdMatch("abc"))
    widened = query.as_prefixes()
    assert widened is not None
    assert widened.conversation_id == IdMatch("ca3b0b11", prefix=True)
    assert widened.call_id == IdMatch("abc")
    assert RecordingQuery(recording_id=IdMatch("ab12", prefix=True)).as_prefixes() is None


def test_describe_names_filters_but_no_person() -> None:
    since = datetime(2026, 3, 1, tzinfo=UTC)
    query = RecordingQuery(
        conversation_id=IdMatch("ca3b0b11", prefix=True),
        participant="+44 7700 900825",
        agent="Hugo Martin",
        since=since,
        status="FAILED",
    )
    described = query.describe()
    assert described == {
        "conversation_id": "ca3b0b11*",
        "participant": "given",
        "agent": "given",
        "since": since.isoformat(),
        "status": "FAILED",
    }
    assert "7700" not in str(described) and "Hugo" not in str(described)
    assert RecordingQuery().describe() == {}


def test_checks() -> None:
    with pytest.raises(ConfigError, match="--sort"):
        RecordingQuery(sort="size")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--limit"):
        RecordingQuery(limit=0)
    with pytest.raises(ValueError, match="timezone-aware"):
        RecordingQuery(since=datetime(2026, 3, 1))
    assert media_type("video") == media_type("AUDIO_AND_VIDEO") == "AUDIO_AND_VIDEO"
    assert media_type(" audio ") == "AUDIO"
