"""The append-only audit chain.

Each event's ``hash`` is sha256(prev_hash + canonical JSON of its fields), ``prev_hash`` being
the hash of the event before it. Changing, inserting or removing a row breaks the chain at that
point, and ``verify_chain`` names where.

Appending needs a serialisation point so two writers never chain onto the same predecessor:
on PostgreSQL a transaction-scoped advisory lock, taken only after the transaction's other row
work so its holder never waits for a row lock (no deadlock); on SQLite every writing
transaction already holds the database's write lock (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from models.tables import AuditEvent

_CHAIN_LOCK_KEY = 0x7265637661756C75
_VERIFY_BATCH = 1000


@dataclass(frozen=True)
class PendingEvent:
    """An audit event to append when its transaction's row work is done."""

    event: str
    actor: str
    at: datetime
    recording_id: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    detail: dict[str, Any] | None = None


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in audit detail; use timezone-aware UTC")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"audit detail value of type {type(value).__name__} is not JSON")


def normalize_detail(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the database will hand back: plain JSON, so the stored row hashes as written."""
    if detail is None:
        return None
    normalized: dict[str, Any] = json.loads(json.dumps(detail, default=_json_default))
    return normalized


def canonical_body(
    *,
    at: datetime,
    recording_id: str | None,
    event: str,
    from_state: str | None,
    to_state: str | None,
    actor: str,
    detail: dict[str, Any] | None,
) -> str:
    fields = {
        "at": at.astimezone(UTC).isoformat(),
        "recording_id": recording_id,
        "event": event,
        "from_state": None if from_state is None else str(from_state),
        "to_state": None if to_state is None else str(to_state),
        "actor": actor,
        "detail": detail,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str | None, body: str) -> str:
    return hashlib.sha256(((prev_hash or "") + body).encode("utf-8")).hexdigest()


def event_hash(row: AuditEvent) -> str:
    body = canonical_body(
        at=row.at,
        recording_id=row.recording_id,
        event=row.event,
        from_state=row.from_state,
        to_state=row.to_state,
        actor=row.actor,
        detail=row.detail,
    )
    return chain_hash(row.prev_hash, body)


# Every column but the id the database assigns, read off the table like rows.OBJECT_COLUMNS.
_EVENT_COLUMNS = tuple(
    column.name
    for column in AuditEvent.__table__.columns  # type: ignore[attr-defined]
    if column.name != "id"
)


def _latest_hash(session: Session) -> str | None:
    stmt = sa.select(col(AuditEvent.hash)).order_by(col(AuditEvent.id).desc()).limit(1)
    return session.scalars(stmt).first()


def append_events(session: Session, events: list[PendingEvent]) -> list[AuditEvent]:
    """Chains and inserts ``events``; call it last in the transaction, then commit."""
    if not events:
        return []
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_CHAIN_LOCK_KEY)))
    prev = _latest_hash(session)
    rows: list[AuditEvent] = []
    for pending in events:
        if pending.at.tzinfo is None:
            raise ValueError("naive datetime given to the audit log; use timezone-aware UTC")
        # Stored at microsecond precision in UTC; hash exactly what the database gives back.
        at = pending.at.astimezone(UTC)
        row = AuditEvent(
            at=at,
            recording_id=pending.recording_id,
            event=pending.event,
            from_state=None if pending.from_state is None else str(pending.from_state),
            to_state=None if pending.to_state is None else str(pending.to_state),
            actor=pending.actor,
            detail=normalize_detail(pending.detail),
            prev_hash=prev,
            hash="",
        )
        row.hash = event_hash(row)
        prev = row.hash
        rows.append(row)
    # The transaction's other changes first; then one plain INSERT (the ORM's unit of work
    # took half of a state transition's time, inside SQLite's one-writer lock).
    session.flush()
    inserted = session.execute(
        sa.insert(AuditEvent).returning(col(AuditEvent.id), sort_by_parameter_order=True),
        [{name: getattr(row, name) for name in _EVENT_COLUMNS} for row in rows],
    )
    for row, event_id in zip(rows, inserted.scalars(), strict=True):
        row.id = event_id
    return rows


def verify_chain(session: Session) -> list[str]:
    """Problems found walking the chain in id order; [] when intact."""
    problems: list[str] = []
    prev_hash: str | None = None
    prev_id: int | None = None
    last_id = 0
    while True:
        stmt = (
            sa.select(AuditEvent)
            .where(col(AuditEvent.id) > last_id)
            .order_by(col(AuditEvent.id))
            .limit(_VERIFY_BATCH)
        )
        batch = list(session.scalars(stmt))
        if not batch:
            return problems
        for row in batch:
            where = f"audit event id={row.id}"
            if row.prev_hash != prev_hash:
                after = f"event id={prev_id}" if prev_id is not None else "the start of the chain"
                problems.append(
                    f"{where}: prev_hash does not match {after} (an event was removed or inserted)"
                )
            if row.hash != event_hash(row):
                problems.append(f"{where}: hash does not match its content (the row was altered)")
            prev_hash, prev_id = row.hash, row.id
        last_id = batch[-1].id or last_id
        session.expunge_all()


@dataclass(frozen=True)
class ChainHead:
    """The chain's last event and what the chain holds: what an anchor records."""

    sequence: int  # the last event's id
    hash: str  # the last event's hash
    events: int  # how many events there are
    counts: dict[str, int]  # events per type

    def as_dict(self) -> dict[str, object]:
        return {
            "sequence": self.sequence,
            "hash": self.hash,
            "events": self.events,
            "counts": dict(sorted(self.counts.items())),
        }


def chain_head(session: Session) -> ChainHead | None:
    last = session.execute(
        sa.select(col(AuditEvent.id), col(AuditEvent.hash))
        .order_by(col(AuditEvent.id).desc())
        .limit(1)
    ).first()
    if last is None:
        return None
    counts = {
        str(event): int(n)
        for event, n in session.execute(
            sa.select(col(AuditEvent.event), sa.func.count()).group_by(col(AuditEvent.event))
        )
    }
    return ChainHead(
        sequence=int(last[0] or 0), hash=str(last[1]), events=sum(counts.values()), counts=counts
    )


def events_after(session: Session, last_id: int, *, limit: int = _VERIFY_BATCH) -> list[AuditEvent]:
    """The next ``limit`` events after id ``last_id``, in id order."""
    stmt = (
        sa.select(AuditEvent)
        .where(col(AuditEvent.id) > last_id)
        .order_by(col(AuditEvent.id))
        .limit(limit)
    )
    return list(session.scalars(stmt))
