"""What a policy rule decides for one recording: dates, derivative, and whether to delete.

Pure functions of their arguments (the clock is a parameter), so the retention flow, its dry
run and ``recvault erase`` all reach the same answer. A legal hold blocks every deletion; the
source copy goes only for ARCHIVED recordings whose verification is recorded; archived objects
expire only after their retain-until date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from models.policy.durations import Target
from models.policy.rules import Rule
from models.source import MediaType
from models.states import VERIFIED, RecordingState

# --- dates and choices of one rule -------------------------------------------------------------


def _aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def retain_until(rule: Rule, started_at: datetime) -> datetime:
    """When the archived objects may expire: the call's start plus the rule's retention."""
    return rule.retention.after(_aware("started_at", started_at))


def source_delete_due(rule: Rule, archived_at: datetime) -> datetime | None:
    """When the source copy may be deleted; None = never."""
    days = rule.delete_source_after_days
    return None if days is None else _aware("archived_at", archived_at) + timedelta(days=days)


def derivative_for(rule: Rule, media_type: str) -> Target | None:
    """The derivative to make: ``auto`` is opus for audio and mp4 for video; opus or mp3 of a
    video keeps its voice; mp4 of an audio recording is nothing (there is no picture)."""
    is_video = media_type.upper() == MediaType.AUDIO_AND_VIDEO
    choice = rule.derivative
    if choice == "none":
        return None
    if choice == "auto":
        return "mp4" if is_video else "opus"
    if choice == "mp4" and not is_video:
        return None
    return choice


def upload_storage_class(rule: Rule) -> str:
    """The class to upload in: the rule's class, or STANDARD when it transitions later."""
    return "STANDARD" if rule.transition_after_days is not None else rule.storage_class


def transition_due(rule: Rule, archived_at: datetime) -> datetime | None:
    """When the objects move to the rule's storage class; None = no transition."""
    if rule.transition_after_days is None:
        return None
    return _aware("archived_at", archived_at) + timedelta(days=rule.transition_after_days)


# --- deletion decisions ----------------------------------------------------------------------


class Action(StrEnum):
    DELETE = "delete"  # go ahead now
    WAIT = "wait"  # allowed later, at ``due_at``
    BLOCKED = "blocked"  # refused: hold, unverified, statutory; log it
    SKIP = "skip"  # nothing to do (policy never deletes, already deleted)
    DUE = "due"  # the policy says delete, but this deployment does not delete there: reported


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    due_at: datetime | None = None

    @property
    def proceed(self) -> bool:
        return self.action is Action.DELETE


_HOLD = "a legal hold is active"


def decide_source_deletion(
    state: RecordingState,
    *,
    source_gone: bool,
    verified: bool,
    on_hold: bool,
    rule: Rule,
    archived_at: datetime | None,
    now: datetime,
) -> Decision:
    """May the copy at Infobip be deleted now? Decided from whether that copy is still there,
    never from the archive's state: only ARCHIVED, verified, unheld and due recordings, and
    EXPIRED ones whose source copy outlived the archive (an older recvault let the archive
    expire first; the retention is over, so that copy goes too)."""
    now = _aware("now", now)
    if source_gone or state is RecordingState.SOURCE_DELETED:
        return Decision(Action.SKIP, "source copy already gone")
    if rule.delete_source_after_days is None:
        return Decision(Action.SKIP, f"rule {rule.name!r} keeps the source copy (never)")
    if on_hold:
        return Decision(Action.BLOCKED, _HOLD)
    if state is RecordingState.EXPIRED:
        return Decision(
            Action.DELETE,
            f"rule {rule.name!r}: the archive has expired (retention ended) while the source "
            "copy was still there; it goes too",
        )
    if state is not RecordingState.ARCHIVED:
        return Decision(Action.BLOCKED, f"state is {state}; only ARCHIVED recordings qualify")
    if not verified:
        return Decision(Action.BLOCKED, "no recorded verification of the archived copy")
    if archived_at is None:
        return Decision(Action.BLOCKED, "no archived_at recorded")
    due = source_delete_due(rule, archived_at)
    if due is None:  # unreachable: "never" returned above; narrows the type
        return Decision(Action.SKIP, f"rule {rule.name!r} keeps the source copy (never)")
    if now < due:
        return Decision(Action.WAIT, f"rule {rule.name!r}: due {due:%Y-%m-%d %H:%M}Z", due)
    return Decision(Action.DELETE, f"rule {rule.name!r}: delete_source {rule.delete_source}", due)


def expiry_after_source(expiry: Decision, source: Decision) -> Decision:
    """The archive never expires while the copy at the source is still due for deletion: it
    would leave that copy behind for good. The source deletion runs first in the same run.
    Where this deployment deletes nothing at the source (``DUE``: deletion off), waiting could
    not help: the archive expires on time and the source copy is reported as due."""
    if not expiry.proceed or source.action in (Action.SKIP, Action.DELETE, Action.DUE):
        return expiry
    if source.action is Action.WAIT:
        due = f" {source.due_at:%Y-%m-%d %H:%M}Z" if source.due_at else ""
        return Decision(
            Action.WAIT,
            f"{expiry.reason}, but the source copy is due for deletion{due}; "
            "the archive expires after it",
            source.due_at,
        )
    return Decision(
        Action.BLOCKED,
        f"{expiry.reason}, but the source copy is not deleted yet ({source.reason})",
        expiry.due_at,
    )


def decide_expiry(
    state: RecordingState, *, retain_until: datetime | None, on_hold: bool, now: datetime
) -> Decision:
    """May the archived objects be deleted now? Only after retain-until and without a hold."""
    now = _aware("now", now)
    if state is RecordingState.EXPIRED:
        return Decision(Action.SKIP, "already expired")
    if state not in VERIFIED:
        return Decision(Action.SKIP, f"state is {state}; nothing archived to expire")
    if retain_until is None:
        return Decision(Action.BLOCKED, "no retain-until date recorded")
    until = _aware("retain_until", retain_until)
    if on_hold:
        return Decision(Action.BLOCKED, _HOLD, until)
    if now < until:
        return Decision(Action.WAIT, f"retained until {until:%Y-%m-%d %H:%M}Z", until)
    return Decision(Action.DELETE, f"retention ended {until:%Y-%m-%d %H:%M}Z", until)


def decide_erasure(
    state: RecordingState,
    *,
    on_hold: bool,
    rule: Rule,
    retain_until: datetime | None,
    now: datetime,
) -> Decision:
    """May an erasure request (GDPR art. 17) delete this recording now? A hold or a statutory
    retention that has not ended refuses it; everything else proceeds."""
    now = _aware("now", now)
    if state is RecordingState.EXPIRED:
        return Decision(Action.SKIP, "already expired")
    if on_hold:
        return Decision(Action.BLOCKED, _HOLD)
    if rule.statutory:
        if retain_until is None:
            return Decision(Action.BLOCKED, f"statutory retention (rule {rule.name!r})")
        until = _aware("retain_until", retain_until)
        if now < until:
            reason = f"statutory retention until {until:%Y-%m-%d} (rule {rule.name!r})"
            return Decision(Action.BLOCKED, reason, until)
    return Decision(Action.DELETE, "erasure request")
