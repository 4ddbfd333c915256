"""What every pipeline step shares: its report, its outcome, and its catalog moves.

A step is ``(deps, row, report) -> (row, outcome)``: it commits the recording's next state and
returns ``None`` as outcome to let the next step run at once, or an outcome to stop here.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from flows.services import Services
from models.errors import RecvaultError
from models.hops import Hop
from models.states import RecordingState
from models.tables import ArchivedObject, Recording

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
    # Moves staged by the steps so far, committed with the next commit (models.hops).
    hops: list[Hop] = field(default_factory=list)


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
    via: Sequence[Hop] = (),
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
    via: Sequence[Hop] = (),
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
    via: Sequence[Hop] = (),
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


def stage(
    deps: Services,
    row: Recording,
    report: StepReport,
    to: RecordingState,
    event: str,
    *,
    detail: dict[str, Any] | None = None,
    objects: Sequence[ArchivedObject] = (),
    **fields: Any,
) -> StepResult:
    """A move left at once: the next commit carries it (``models.hops``); ``row`` shows it
    meanwhile, and the next step runs."""
    for name, value in fields.items():
        setattr(row, name, value)
    row.state = to
    report.hops.append(Hop(to, event, deps.clock(), fields, detail, objects))
    return row, None


def commit_pending(deps: Services, recording_id: str, report: StepReport) -> None:
    """A step that stops on an exception: the moves staged before it are committed first, so
    the failure is recorded from the state it happened in (as if each had been committed)."""
    pending = _hops(report.hops)
    if not pending:
        return
    last = pending[-1]
    try:
        deps.catalog.transition(
            recording_id,
            last.to,
            actor=deps.worker,
            event=last.event,
            at=last.at,
            worker=deps.worker,
            detail=last.detail,
            objects=last.objects,
            via=pending[:-1],
            **last.fields,
        )
    except RecvaultError as exc:  # an outage: the exception being raised says more
        log.warning("staged moves not committed recording_id=%s: %s", recording_id, exc)
    else:
        _committed(pending)


def _hops(via: Sequence[Hop]) -> tuple[Hop, ...]:
    return tuple(hop for hop in via if not hop.committed)


def _committed(via: Sequence[Hop]) -> None:
    for hop in via:
        hop.committed = True


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
