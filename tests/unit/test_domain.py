"""Pure domain rules: state machine, object keys, CLI dates."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from models.errors import ConfigError
from models.keys import object_key
from models.states import (
    IN_PROGRESS,
    InvalidTransition,
    RecordingState,
    check_transition,
    public_status,
)
from recvault.cli.dates import check_window, parse_when

S = RecordingState


def test_happy_path_is_allowed() -> None:
    path = [
        S.DISCOVERED,
        S.PREPARING,
        S.READY,
        S.DOWNLOADED,
        S.UPLOADED,
        S.ARCHIVED,
        S.SOURCE_DELETED,
        S.EXPIRED,
    ]
    for current, new in itertools.pairwise(path):
        check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.DISCOVERED, S.ARCHIVED),  # never archived without download, upload and verify
        (S.DOWNLOADED, S.ARCHIVED),
        (S.UPLOADED, S.SOURCE_DELETED),
        (S.READY, S.SOURCE_DELETED),
        (S.EXPIRED, S.DISCOVERED),
        (S.QUARANTINED, S.ARCHIVED),
    ],
)
def test_shortcuts_are_refused(current: RecordingState, new: RecordingState) -> None:
    with pytest.raises(InvalidTransition):
        check_transition(current, new)


def test_public_status_folds_work_in_progress_into_pending() -> None:
    assert {public_status(s) for s in IN_PROGRESS} == {"PENDING"}
    assert public_status(S.ARCHIVED) == "ARCHIVED"
    assert public_status(S.SOURCE_DELETED) == "SOURCE_DELETED"


def test_object_key_uses_utc_day_and_sanitises_ids() -> None:
    started = datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))  # 2025-12-31 UTC
    key = object_key(
        started_at=started, conversation_id="conv/../x", recording_id="rec-1", name="original.wav"
    )
    assert key == "recordings/2025/12/31/conv_.._x/rec-1/original.wav"


def test_object_key_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        object_key(
            started_at=datetime(2026, 1, 1),
            conversation_id="c",
            recording_id="r",
            name="original.wav",
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
        ("2026-01-31T09:00:00Z", datetime(2026, 1, 31, 9, tzinfo=UTC)),
        ("2026-01-31T11:00:00+02:00", datetime(2026, 1, 31, 9, tzinfo=UTC)),
    ],
)
def test_dates_parse_to_utc(text: str, expected: datetime) -> None:
    assert parse_when(text, option="--since") == expected


@pytest.mark.parametrize("text", ["2026-13-01", "yesterday", "31/01/2026", ""])
def test_bad_dates_name_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--since: .* is not an ISO 8601 date"):
        parse_when(text, option="--since")


def test_window_must_be_ordered() -> None:
    a = datetime(2026, 1, 2, tzinfo=UTC)
    with pytest.raises(ConfigError, match="must be before"):
        check_window(a, a - timedelta(days=1))


def test_watermark_only_moves_forward_along_contiguous_windows() -> None:
    from flows.archive.run import next_watermark

    day = timedelta(days=1)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    assert next_watermark(None, now - 7 * day, now) == now  # first run
    assert next_watermark(now - day, now - day, now) == now  # a scheduled run continues
    assert next_watermark(now - day, now - 3 * day, now) == now  # an overlapping ad-hoc run
    backfill = (now - 400 * day, now - 200 * day)
    assert next_watermark(now, *backfill) == now  # a backfill of the past changes nothing
    assert next_watermark(now, now + day, now + 2 * day) == now  # a gap is not covered
