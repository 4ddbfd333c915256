"""Durations, calendar arithmetic, and the deletion decisions of models/retention.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from models.policy.durations import Duration, parse_duration
from models.policy.retention import (
    Action,
    Decision,
    decide_erasure,
    decide_expiry,
    decide_source_deletion,
    derivative_for,
    expiry_after_source,
    retain_until,
    source_delete_due,
    transition_due,
    upload_storage_class,
)
from models.policy.rules import Policy, Rule
from models.states import RecordingState as S


def rule(**fields: object) -> Rule:
    lines = ['name = "r"'] + [
        f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}"
        for k, v in ({"retention": "7y"} | fields).items()
    ]
    return Policy.loads("[[rules]]\n" + "\n".join(lines) + "\n").rules[0]


# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("7y", Duration(years=7)),
        ("5Y", Duration(years=5)),
        (" 90d ", Duration(days=90)),
        ("P5Y", Duration(years=5)),
        ("p90d", Duration(days=90)),
        ("P6M", Duration(months=6)),
        ("P2W", Duration(days=14)),
        ("P1Y30D", Duration(years=1, days=30)),
    ],
)
def test_parse_duration(text: str, duration: Duration) -> None:
    assert parse_duration(text) == duration


@pytest.mark.parametrize("text", ["7 years", "7", "y", "P", "PT5H", "-1d", "1.5y", "7m", ""])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration like 7y or 90d"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (Duration(years=7), "7y"),
        (Duration(days=90), "90d"),
        (Duration(months=6), "P6M"),
        (Duration(years=1, days=30), "P1Y30D"),
    ],
)
def test_duration_str_round_trips(duration: Duration, text: str) -> None:
    assert str(duration) == text
    assert parse_duration(text) == duration


@pytest.mark.parametrize(
    ("started", "retention", "until"),
    [
        (datetime(2024, 3, 15, 9, 0, tzinfo=UTC), "7y", datetime(2031, 3, 15, 9, 0, tzinfo=UTC)),
        # Leap day: same month, day clamped to the month's length in common years.
        (
            datetime(2024, 2, 29, 23, 59, tzinfo=UTC),
            "1y",
            datetime(2025, 2, 28, 23, 59, tzinfo=UTC),
        ),
        (datetime(2024, 2, 29, 12, tzinfo=UTC), "4y", datetime(2028, 2, 29, 12, tzinfo=UTC)),
        (datetime(2024, 2, 29, 12, tzinfo=UTC), "P5Y", datetime(2029, 2, 28, 12, tzinfo=UTC)),
        (datetime(2023, 12, 31, tzinfo=UTC), "90d", datetime(2024, 3, 30, tzinfo=UTC)),
        (datetime(2024, 8, 31, tzinfo=UTC), "P6M", datetime(2025, 2, 28, tzinfo=UTC)),
        (datetime(2024, 1, 31, tzinfo=UTC), "P1Y30D", datetime(2025, 3, 2, tzinfo=UTC)),
    ],
)
def test_retain_until_is_calendar_arithmetic(
    started: datetime, retention: str, until: datetime
) -> None:
    assert retain_until(rule(retention=retention), started) == until


def test_retain_until_is_utc_and_needs_an_aware_start() -> None:
    cet = timezone(timedelta(hours=1))
    # 00:30 CET on 1 March is still 29 February in UTC.
    until = retain_until(rule(retention="1y"), datetime(2024, 3, 1, 0, 30, tzinfo=cet))
    assert until == datetime(2025, 2, 28, 23, 30, tzinfo=UTC)
    assert until.tzinfo == UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        retain_until(rule(), datetime(2024, 1, 1))


def test_source_delete_due() -> None:
    at = datetime(2025, 1, 31, 8, tzinfo=UTC)
    assert source_delete_due(rule(), at) is None
    assert source_delete_due(rule(delete_source="immediately"), at) == at
    assert source_delete_due(rule(delete_source="after:30d"), at) == at + timedelta(days=30)


def test_storage_class_and_transition() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    direct = rule(storage_class="GLACIER_IR")
    later = rule(storage_class="DEEP_ARCHIVE", transition_after_days=90)
    assert upload_storage_class(direct) == "GLACIER_IR"
    assert transition_due(direct, at) is None
    assert upload_storage_class(later) == "STANDARD"
    assert transition_due(later, at) == datetime(2025, 4, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("choice", "audio", "video"),
    [
        ("auto", "opus", "mp4"),
        ("opus", "opus", "opus"),
        ("mp3", "mp3", "mp3"),
        ("mp4", None, "mp4"),
        ("none", None, None),
    ],
)
def test_derivative_for(choice: str, audio: str | None, video: str | None) -> None:
    r = rule(derivative=choice)
    assert derivative_for(r, "AUDIO") == audio
    assert derivative_for(r, "AUDIO_AND_VIDEO") == video
    assert derivative_for(r, "audio_and_video") == video


# --- decisions -----------------------------------------------------------------------------

ARCHIVED_AT = datetime(2025, 1, 1, tzinfo=UTC)
AFTER_30 = rule(delete_source="after:30d")


@pytest.mark.parametrize(
    ("state", "verified", "on_hold", "r", "now_days", "action", "reason"),
    [
        (S.ARCHIVED, True, False, AFTER_30, 30, Action.DELETE, "delete_source after:30d"),
        (S.ARCHIVED, True, False, AFTER_30, 29, Action.WAIT, "due 2025-01-31"),
        (S.ARCHIVED, True, True, AFTER_30, 400, Action.BLOCKED, "legal hold"),
        (S.ARCHIVED, False, False, AFTER_30, 400, Action.BLOCKED, "no recorded verification"),
        (S.UPLOADED, True, False, AFTER_30, 400, Action.BLOCKED, "only ARCHIVED"),
        (S.FAILED, False, False, AFTER_30, 400, Action.BLOCKED, "only ARCHIVED"),
        (S.ARCHIVED, True, False, rule(), 4000, Action.SKIP, "keeps the source copy"),
        (S.SOURCE_DELETED, True, False, AFTER_30, 400, Action.SKIP, "already gone"),
        # Issue 9 finding 2: decided from the source copy, not from the archive's state.
        (S.EXPIRED, False, False, AFTER_30, 400, Action.DELETE, "the archive has expired"),
        (S.EXPIRED, False, True, AFTER_30, 400, Action.BLOCKED, "legal hold"),
        (S.EXPIRED, False, False, rule(), 400, Action.SKIP, "keeps the source copy"),
        (
            S.ARCHIVED,
            True,
            False,
            rule(delete_source="immediately"),
            0,
            Action.DELETE,
            "immediately",
        ),
    ],
)
def test_decide_source_deletion(
    state: S,
    verified: bool,
    on_hold: bool,
    r: Rule,
    now_days: int,
    action: Action,
    reason: str,
) -> None:
    d = decide_source_deletion(
        state,
        source_gone=state is S.SOURCE_DELETED,
        verified=verified,
        on_hold=on_hold,
        rule=r,
        archived_at=ARCHIVED_AT,
        now=ARCHIVED_AT + timedelta(days=now_days),
    )
    assert d.action is action
    assert reason in d.reason
    assert d.proceed is (action is Action.DELETE)


def test_source_deletion_needs_archived_at() -> None:
    d = decide_source_deletion(
        S.ARCHIVED,
        source_gone=False,
        verified=True,
        on_hold=False,
        rule=AFTER_30,
        archived_at=None,
        now=ARCHIVED_AT,
    )
    assert d.action is Action.BLOCKED


def test_a_source_copy_that_is_gone_is_never_deleted_again() -> None:
    d = decide_source_deletion(
        S.EXPIRED,
        source_gone=True,
        verified=False,
        on_hold=False,
        rule=AFTER_30,
        archived_at=ARCHIVED_AT,
        now=ARCHIVED_AT,
    )
    assert d.action is Action.SKIP and "already gone" in d.reason


def test_the_archive_never_expires_before_a_source_copy_still_due() -> None:
    ended = Decision(Action.DELETE, "retention ended 2025-02-01 00:00Z")
    due = ARCHIVED_AT + timedelta(days=30)
    waiting = expiry_after_source(ended, Decision(Action.WAIT, "due", due))
    assert waiting.action is Action.WAIT and waiting.due_at == due
    assert "source copy is due for deletion 2025-01-31" in waiting.reason
    blocked = expiry_after_source(ended, Decision(Action.BLOCKED, "no recorded verification"))
    assert blocked.action is Action.BLOCKED and "no recorded verification" in blocked.reason
    for fine in (Action.SKIP, Action.DELETE):
        assert expiry_after_source(ended, Decision(fine, "x")) is ended
    not_yet = Decision(Action.WAIT, "retained")
    assert expiry_after_source(not_yet, Decision(Action.WAIT, "due", due)) is not_yet


def test_decisions_refuse_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide_expiry(S.ARCHIVED, retain_until=ARCHIVED_AT, on_hold=False, now=datetime(2030, 1, 1))


UNTIL = datetime(2032, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "until", "on_hold", "now", "action", "reason"),
    [
        (S.ARCHIVED, UNTIL, False, UNTIL, Action.DELETE, "retention ended 2032-01-01"),
        (S.SOURCE_DELETED, UNTIL, False, UNTIL + timedelta(days=1), Action.DELETE, "ended"),
        (S.ARCHIVED, UNTIL, False, UNTIL - timedelta(seconds=1), Action.WAIT, "until 2032-01-01"),
        (S.ARCHIVED, UNTIL, True, UNTIL + timedelta(days=999), Action.BLOCKED, "legal hold"),
        (S.ARCHIVED, None, False, UNTIL, Action.BLOCKED, "no retain-until"),
        (S.EXPIRED, UNTIL, False, UNTIL, Action.SKIP, "already expired"),
        (S.FAILED, UNTIL, False, UNTIL, Action.SKIP, "nothing archived"),
        (S.UPLOADED, UNTIL, False, UNTIL, Action.SKIP, "nothing archived"),
    ],
)
def test_decide_expiry(
    state: S, until: datetime | None, on_hold: bool, now: datetime, action: Action, reason: str
) -> None:
    d = decide_expiry(state, retain_until=until, on_hold=on_hold, now=now)
    assert d.action is action
    assert reason in d.reason
    if action in (Action.WAIT, Action.DELETE):
        assert d.due_at == until


STATUTORY = rule(statutory=True, retention="5y")


@pytest.mark.parametrize(
    ("state", "on_hold", "r", "until", "action", "reason"),
    [
        (S.ARCHIVED, False, rule(), UNTIL, Action.DELETE, "erasure request"),
        (S.DISCOVERED, False, rule(), None, Action.DELETE, "erasure request"),
        (S.ARCHIVED, True, rule(), UNTIL, Action.BLOCKED, "legal hold"),
        (S.ARCHIVED, False, STATUTORY, UNTIL, Action.BLOCKED, "statutory retention until 2032"),
        (S.ARCHIVED, False, STATUTORY, None, Action.BLOCKED, "statutory retention (rule 'r')"),
        (S.ARCHIVED, False, STATUTORY, ARCHIVED_AT, Action.DELETE, "erasure request"),
        (S.EXPIRED, False, STATUTORY, UNTIL, Action.SKIP, "already expired"),
    ],
)
def test_decide_erasure(
    state: S, on_hold: bool, r: Rule, until: datetime | None, action: Action, reason: str
) -> None:
    d = decide_erasure(
        state, on_hold=on_hold, rule=r, retain_until=until, now=datetime(2026, 6, 1, tzinfo=UTC)
    )
    assert d.action is action
    assert reason in d.reason
