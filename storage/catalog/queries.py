"""Statements the ``Catalog`` runs inside the sessions it opens: searches and row helpers."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlmodel import col

from models.errors import CatalogError
from models.identity import identity_variants
from models.scope import EVERYTHING, ClaimScope
from models.states import IN_PROGRESS, RecordingState
from models.tables import ArchivedObject, AuditEvent, Recording, RecordingTotal
from storage.catalog.rows import object_values, require_aware, states_for_status

# Bound parameters per IN (...) list: well under SQLite's and PostgreSQL's limits.
_IN_CHUNK = 500
RUN_FINISHED = "run_finished"


def search_recordings(
    session: Session,
    *,
    conversation_id: str | None = None,
    call_id: str | None = None,
    agent: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    status: str | None = None,
    recording_id: str | None = None,
    limit: int | None = None,
) -> list[Recording]:
    require_aware("since", since)
    require_aware("until", until)
    stmt = sa.select(Recording)
    if recording_id is not None:
        stmt = stmt.where(col(Recording.recording_id) == recording_id)
    if conversation_id is not None:
        stmt = stmt.where(col(Recording.conversation_id) == conversation_id)
    if call_id is not None:
        stmt = stmt.where(col(Recording.call_id) == call_id)
    if agent is not None:
        stmt = stmt.where(col(Recording.conversation_id).in_(_agent_conversations(agent)))
    if since is not None:
        stmt = stmt.where(col(Recording.started_at) >= since)
    if until is not None:
        stmt = stmt.where(col(Recording.started_at) < until)
    if status is not None:
        states = sorted(s.value for s in states_for_status(status))
        stmt = stmt.where(col(Recording.state).in_(states))
    stmt = stmt.order_by(col(Recording.started_at), col(Recording.recording_id))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def _agent_conversations(agent: str) -> sa.Select[str | None]:
    """Conversations that have an AGENT leg whose id, identity or name is ``agent``."""
    wanted = agent.strip().lower()
    return sa.select(col(Recording.conversation_id)).where(
        sa.func.upper(col(Recording.participant_type)) == "AGENT",
        col(Recording.conversation_id).is_not(None),
        sa.or_(
            sa.func.lower(col(Recording.participant_id)) == wanted,
            sa.func.lower(col(Recording.participant_identity)).in_(identity_variants(agent)),
            sa.func.lower(col(Recording.participant_name)) == wanted,
        ),
    )


def objects_by_recording(
    session: Session, recording_ids: Sequence[str]
) -> dict[str, list[ArchivedObject]]:
    found: dict[str, list[ArchivedObject]] = {rid: [] for rid in recording_ids}
    unique = list(found)
    recording_id = col(ArchivedObject.recording_id)
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter: a search's thousands of ids in one statement, not one per chunk.
        chunks: list[Any] = [recording_id == sa.func.any(sa.literal(unique, ARRAY(sa.String())))]
    else:
        chunks = [
            recording_id.in_(unique[start : start + _IN_CHUNK])
            for start in range(0, len(unique), _IN_CHUNK)
        ]
    for where in chunks if unique else []:
        stmt = sa.select(ArchivedObject).where(where).order_by(recording_id, ArchivedObject.kind)
        for obj in session.scalars(stmt):
            found[obj.recording_id].append(obj)
    return found


def add_to_total(session: Session, new: int) -> None:
    total = col(RecordingTotal.recordings)
    session.execute(sa.update(RecordingTotal).values(recordings=total + new))


def recording_total(session: Session) -> int:
    return int(session.scalar(sa.select(col(RecordingTotal.recordings))) or 0)


def counts_by_state(session: Session) -> dict[str, int]:
    stmt = sa.select(col(Recording.state), sa.func.count()).group_by(col(Recording.state))
    return {str(state): int(count) for state, count in session.execute(stmt)}


def audit_events(session: Session, recording_id: str | None) -> list[AuditEvent]:
    stmt = sa.select(AuditEvent).order_by(col(AuditEvent.id))
    if recording_id is not None:
        stmt = stmt.where(col(AuditEvent.recording_id) == recording_id)
    return list(session.scalars(stmt))


def in_scope(stmt: Any, scope: ClaimScope) -> Any:
    started = col(Recording.started_at)
    if scope.started_from is not None:
        stmt = stmt.where(started >= scope.started_from)
    if scope.started_to is not None:
        stmt = stmt.where(started < scope.started_to)
    return stmt


def next_due_at(
    session: Session,
    scope: ClaimScope = EVERYTHING,
    states: Collection[RecordingState] = IN_PROGRESS,
) -> datetime | None:
    """The earliest retry time among unclaimed recordings in ``states`` (in progress only)
    that are waiting."""
    wanted = sorted(s.value for s in states if s in IN_PROGRESS)
    stmt = sa.select(sa.func.min(col(Recording.next_attempt_at))).where(
        col(Recording.state).in_(wanted),
        col(Recording.claimed_by).is_(None),
        col(Recording.next_attempt_at).is_not(None),
    )
    return _as_utc(session.scalar(in_scope(stmt, scope)))


def last_run_finished_at(session: Session) -> datetime | None:
    """When the latest archive run that got to its end finished."""
    stmt = (
        sa.select(col(AuditEvent.at))
        .where(col(AuditEvent.event) == RUN_FINISHED, col(AuditEvent.recording_id).is_(None))
        .order_by(col(AuditEvent.id).desc())
        .limit(1)
    )
    at: datetime | None = session.scalars(stmt).first()
    return at


def last_window_end(session: Session) -> datetime | None:
    """The watermark of the latest run-level ``run_finished`` audit event (``window_end`` for
    runs from before the watermark was recorded)."""
    stmt = (
        sa.select(col(AuditEvent.detail))
        .where(col(AuditEvent.event) == RUN_FINISHED, col(AuditEvent.recording_id).is_(None))
        .order_by(col(AuditEvent.id).desc())
        .limit(1)
    )
    detail: dict[str, Any] | None = session.scalars(stmt).first()
    end = (detail or {}).get("watermark", (detail or {}).get("window_end"))
    return _as_utc(end) if isinstance(end, str) else None


def _as_utc(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def lock_row(session: Session, recording_id: str) -> Recording:
    """The row, locked for this transaction (FOR UPDATE; SQLite holds the write lock already)."""
    stmt = sa.select(Recording).where(col(Recording.recording_id) == recording_id).with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise CatalogError(f"recording {recording_id} is not in the catalog")
    return row


def upsert_objects(session: Session, recording_id: str, objects: Sequence[ArchivedObject]) -> None:
    """Inserts each object, or updates in place the one of the same (recording_id, kind); of
    two given of one kind (a hop's and the move's after it), the later wins."""
    if not objects:
        return
    existing = {o.kind: o for o in objects_by_recording(session, [recording_id])[recording_id]}
    for given in {o.kind: o for o in objects}.values():
        if getattr(given, "recording_id", None) not in (None, "", recording_id):
            raise ValueError(f"object of {given.recording_id} given for {recording_id}")
        values = object_values(given)
        row = existing.get(given.kind)
        if row is None:
            row = ArchivedObject(recording_id=recording_id, **values)
            session.add(row)
            existing[given.kind] = row
        else:
            for name, value in values.items():
                setattr(row, name, value)
        session.flush()
