"""What every pipeline step shares: its report, its outcome, and its catalog moves.

A step is ``(deps, row, report) -> (row, outcome)``: it commits the recording's next state and
returns ``None`` as outcome to let the next step run at once, or an outcome to stop here.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from flows.services import Services
from models.errors import RecvaultError
from models.hops import Hop
from models.states import RecordingState
from models.tables import Recording

log = logging.getLogger(__name__)

S = RecordingState
_HASH_CHUNK = 1024 * 1024


class Outcome(StrEnum):
    ARCHIVED = "archived"  # reached ARCHIVED in this call
    WAITING = "waiting"  # deferred: not ready or preparing; picked up again later
    RETRY = "retry"  # an attempt failed; retried later
    FAILED = "failed"
    QUARANTINED = "quarantined"
    SKIPPED = "skipped"  # nothing to do (already done, or claimed by another worker)


@dataclass
class StepReport:
    recording_id: str
    outcome: Outcome
    state: RecordingState
    downloaded_bytes: int = 0
    uploaded_bytes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    # Waiting on an answer nobody documented: its kind, for "needs attention" in the summary.
    attention: str | None = None


@dataclass(frozen=True)
class DiscoverReport:
    listed: int
    new: int
    updated: int
    since: datetime
    until: datetime
    # Kinds of unexpected listing content, with how many recordings showed it (kept anyway).
    attention: dict[str, int] = field(default_factory=dict)


# --- discover --------------------------------------------------------------------------------


StepResult = tuple[Recording, Outcome | None]


def backoff_until(deps: Services, attempt: int) -> datetime:
    """Exponential back-off from the configured base, at most an hour."""
    backoff = deps.settings.retry_backoff_s * (2 ** min(attempt - 1, 10))
    return deps.clock() + timedelta(seconds=min(backoff, 3600))


def record_error(deps: Services, recording_id: str, exc: RecvaultError) -> Recording:
    row = deps.catalog.get(recording_id)
    log.warning(
        "attempt failed recording_id=%s state=%s error=%s: %s",
        recording_id,
        row.state,
        type(exc).__name__,
        exc,
    )
    failed, _ = fail(deps, row, f"{type(exc).__name__}: {exc}", retryable=exc.retryable)
    return failed


def fail(
    deps: Services,
    row: Recording,
    error: str,
    *,
    retryable: bool,
    retry_at: datetime | None = None,
    reset_to: RecordingState | None = None,
    via: Hop | None = None,
) -> StepResult:
    """Count a failed attempt: FAILED when final, else retried at ``retry_at`` (default: the
    back-off for this attempt), optionally from an earlier state."""
    failed = deps.catalog.record_failure(
        row.recording_id,
        error=error,
        retryable=retryable,
        at=deps.clock(),
        actor=deps.worker,
        max_attempts=deps.settings.max_attempts,
        retry_at=retry_at or backoff_until(deps, row.attempts + 1),
        worker=deps.worker,
        reset_to=reset_to,
        via=_hops(via),
    )
    _committed(via)
    return failed, Outcome.FAILED if failed.state == S.FAILED else Outcome.RETRY


def move(
    deps: Services,
    row: Recording,
    to: RecordingState,
    event: str,
    *,
    via: Hop | None = None,
    **fields: Any,
) -> Recording:
    moved = deps.catalog.transition(
        row.recording_id,
        to,
        actor=deps.worker,
        event=event,
        at=deps.clock(),
        worker=deps.worker,
        via=_hops(via),
        **fields,
    )
    _committed(via)
    return moved


def defer(
    deps: Services,
    row: Recording,
    reason: str,
    after_s: float,
    *,
    via: Hop | None = None,
    **fields: Any,
) -> Recording:
    deferred = deps.catalog.defer(
        row.recording_id,
        until=deps.clock() + timedelta(seconds=after_s),
        reason=reason,
        at=deps.clock(),
        actor=deps.worker,
        worker=deps.worker,
        via=_hops(via),
        **fields,
    )
    _committed(via)
    return deferred


def stage(deps: Services, row: Recording, to: RecordingState, event: str, **fields: Any) -> Hop:
    """A move the next commit carries (``models.hops``); ``row`` shows it meanwhile."""
    for name, value in fields.items():
        setattr(row, name, value)
    return Hop(to, event, deps.clock(), fields=fields)


def commit_if_pending(deps: Services, row: Recording, hop: Hop | None) -> None:
    """A step that stops on an exception still commits the hop it was carrying, so the
    failure is recorded where it happened (as if the hop had been committed alone)."""
    if hop is None or hop.committed:
        return
    try:
        deps.catalog.transition(
            row.recording_id,
            hop.to,
            actor=deps.worker,
            event=hop.event,
            at=hop.at,
            worker=deps.worker,
            detail=hop.detail,
            objects=hop.objects,
            **hop.fields,
        )
    except RecvaultError as exc:  # an outage: the exception being raised says more
        log.warning("staged move not committed recording_id=%s: %s", row.recording_id, exc)
    else:
        hop.committed = True


def _hops(via: Hop | None) -> tuple[Hop, ...]:
    return () if via is None or via.committed else (via,)


def _committed(via: Hop | None) -> None:
    if via is not None:
        via.committed = True


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
