"""Re-queueing FAILED and QUARANTINED recordings (``recvault retry``), in the caller's session.

A re-queued recording goes back to DISCOVERED with its attempts reset, so the next archive run
takes it from the start: readiness, a fresh download, probe, upload, verification. What it had
(the error, the hashes a quarantine recorded) goes into the ``requeued`` audit event first, so
the evidence of why it stopped stays on the chain; the row is then judged on fresh bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from models.errors import ConfigError
from models.states import RecordingState, check_transition
from models.tables import Recording
from storage.catalog.audit import PendingEvent

S = RecordingState
RETRYABLE_STATES = (S.FAILED, S.QUARANTINED)
# What a new attempt finds out again; the audit event keeps the old values.
_RESET = (
    "attempts",
    "last_error",
    "next_attempt_at",
    "source_sha256",
    "source_size_bytes",
    "conflicting_sha256",
    "probe",
    "preparation_status",
)


def rows_to_requeue(
    session: Session, *, recording_ids: Sequence[str], status: str | None
) -> list[Recording]:
    """The rows named (all must exist and be FAILED or QUARANTINED: otherwise one
    ``ConfigError`` and nothing changes), or every row in ``status``; locked for update."""
    if status is not None:
        wanted = RecordingState(status.strip().upper())
        if wanted not in RETRYABLE_STATES:
            raise ConfigError(f"--status {status!r}: only FAILED or QUARANTINED can be retried")
        stmt = sa.select(Recording).where(col(Recording.state) == wanted.value)
    else:
        stmt = sa.select(Recording).where(col(Recording.recording_id).in_(list(recording_ids)))
    rows = list(session.scalars(stmt.order_by(col(Recording.recording_id)).with_for_update()))
    if status is None:
        found = {r.recording_id: r for r in rows}
        missing = [rid for rid in recording_ids if rid not in found]
        if missing:
            raise ConfigError(
                f"recording {missing[0]} is not in the catalog"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + ": nothing was re-queued"
            )
        wrong = [r for r in rows if RecordingState(r.state) not in RETRYABLE_STATES]
        if wrong:
            raise ConfigError(
                f"recording {wrong[0].recording_id} is {wrong[0].state}: only FAILED or "
                "QUARANTINED recordings can be retried; nothing was re-queued"
            )
    return rows


def requeue_row(row: Recording, *, actor: str, at: datetime, reason: str | None) -> PendingEvent:
    """Moves one row back to DISCOVERED; returns its audit event (to append last)."""
    current = RecordingState(row.state)
    check_transition(current, S.DISCOVERED)
    detail: dict[str, Any] = {
        "previous_state": current.value,
        "previous_attempts": row.attempts,
        "previous_error": (row.last_error or "")[:500] or None,
        "previous_source_sha256": row.source_sha256,
        "previous_conflicting_sha256": row.conflicting_sha256,
        "reason": reason,
    }
    for name in _RESET:
        setattr(row, name, 0 if name == "attempts" else None)
    row.state = S.DISCOVERED
    row.updated_at = at
    row.claimed_by = row.claimed_until = None
    return PendingEvent("requeued", actor, at, row.recording_id, current, S.DISCOVERED, detail)
