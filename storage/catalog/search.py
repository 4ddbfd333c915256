"""The auditor's searches as SQL: recordings by any filter of ``RecordingQuery``, and the audit
trail by ``AuditQuery``. Every filter is written so the database can use an index
(migration 0007 adds the ones these need; ``bench/bench_search.py`` checks the plans):

- an id prefix is a range (``id >= 'ab12' AND id < 'ab13'``) on SQLite, whose default
  collation orders bytes, and ``LIKE 'ab12%'`` on PostgreSQL, served by the
  ``text_pattern_ops`` indexes whatever the database's collation;
- identities compare ``lower(participant_identity)`` with the stored spellings of the normal
  form (``models.identity``), over an index on that expression;
- a name matches when it, or one of its words, starts with the text, case-insensitively: the
  name's start through an index on ``lower(participant_name)``, a later word by a scan of the
  legs of that participant type only.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from models.identity import identity_variants
from models.search import AuditQuery, IdMatch, RecordingQuery
from models.tables import AuditEvent, Recording
from storage.catalog.rows import states_for_status

_SORT_COLUMNS: dict[str, Any] = {
    "started": col(Recording.started_at),
    "duration": col(Recording.duration_s),
    "recording": col(Recording.recording_id),
    "conversation": col(Recording.conversation_id),
    "status": col(Recording.state),
}


def _next_prefix(prefix: str) -> str:
    """The smallest string after every string that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def starts_with(column: Any, prefix: str, dialect: str) -> Any:
    if dialect == "postgresql":
        return column.like(_escape_like(prefix) + "%", escape="\\")
    return sa.and_(column >= prefix, column < _next_prefix(prefix))


def id_condition(column: Any, match: IdMatch, dialect: str) -> Any:
    return starts_with(column, match.value, dialect) if match.prefix else column == match.value


def _name_condition(text: str, dialect: str) -> Any:
    wanted = " ".join(text.split()).lower()
    name = sa.func.lower(col(Recording.participant_name))
    return sa.or_(
        starts_with(name, wanted, dialect),
        name.like("% " + _escape_like(wanted) + "%", escape="\\"),
    )


def person_condition(text: str, dialect: str, *, names: bool = True) -> Any:
    """The leg's participant is ``text``: its id, its identity in any spelling of the normal
    form, or (``names``) its name or a word of it."""
    conditions = [
        col(Recording.participant_id) == text.strip(),
        sa.func.lower(col(Recording.participant_identity)).in_(identity_variants(text)),
    ]
    if names:
        conditions.append(_name_condition(text, dialect))
    return sa.or_(*conditions)


def _conversations_with(person: Any, *, agent: bool) -> Any:
    legs = sa.select(col(Recording.conversation_id)).where(
        person, col(Recording.conversation_id).is_not(None)
    )
    if agent:
        legs = legs.where(sa.func.upper(col(Recording.participant_type)) == "AGENT")
    return col(Recording.conversation_id).in_(legs)


def recording_filters(query: RecordingQuery, dialect: str) -> list[Any]:
    where: list[Any] = []
    for name, match in query.id_filters.items():
        where.append(id_condition(getattr(Recording, name), match, dialect))
    if query.agent is not None:
        where.append(_conversations_with(person_condition(query.agent, dialect), agent=True))
    if query.participant is not None:
        person = person_condition(query.participant, dialect)
        # A leg without a conversation (a Calls recording) is matched by itself.
        where.append(sa.or_(_conversations_with(person, agent=False), person))
    if query.direction is not None:
        where.append(sa.func.upper(col(Recording.direction)) == query.direction.strip().upper())
    if query.queue is not None:
        queue = query.queue.strip()
        where.append(
            sa.or_(
                col(Recording.transferred_from_queue) == queue,
                col(Recording.transferred_to_queue) == queue,
            )
        )
    if query.media_type is not None:
        where.append(col(Recording.media_type) == query.media_type)
    if query.status is not None:
        states = sorted(s.value for s in states_for_status(query.status))
        where.append(col(Recording.state).in_(states))
    if query.source is not None:
        where.append(col(Recording.source) == query.source.strip().lower())
    if query.since is not None:
        where.append(col(Recording.started_at) >= query.since)
    if query.until is not None:
        where.append(col(Recording.started_at) < query.until)
    return where


def recordings_statement(query: RecordingQuery, dialect: str) -> sa.Select[Any]:
    stmt = sa.select(Recording).where(*recording_filters(query, dialect))
    key = _SORT_COLUMNS[query.sort]
    tiebreak = col(Recording.recording_id)
    if query.descending:
        stmt = stmt.order_by(key.desc(), tiebreak.desc())
    else:
        stmt = stmt.order_by(key, tiebreak)
    if query.offset:
        stmt = stmt.offset(query.offset)
    if query.limit is not None:
        stmt = stmt.limit(query.limit)
    return stmt


def find_recordings(session: Session, query: RecordingQuery) -> list[Recording]:
    dialect = session.get_bind().dialect.name
    return list(session.scalars(recordings_statement(query, dialect)))


def count_recordings(session: Session, query: RecordingQuery) -> int:
    dialect = session.get_bind().dialect.name
    stmt = (
        sa.select(sa.func.count()).select_from(Recording).where(*recording_filters(query, dialect))
    )
    return int(session.scalar(stmt) or 0)


def recording_ids_starting(session: Session, prefix: str, *, limit: int = 5) -> list[str]:
    """Up to ``limit`` recording ids that start with ``prefix`` (to resolve a short id)."""
    dialect = session.get_bind().dialect.name
    stmt = (
        sa.select(col(Recording.recording_id))
        .where(starts_with(col(Recording.recording_id), prefix, dialect))
        .order_by(col(Recording.recording_id))
        .limit(limit)
    )
    return list(session.scalars(stmt))


def audit_statement(query: AuditQuery, dialect: str) -> sa.Select[Any]:
    stmt = sa.select(AuditEvent)
    if query.recording_id is not None:
        stmt = stmt.where(id_condition(col(AuditEvent.recording_id), query.recording_id, dialect))
    if query.event is not None:
        stmt = stmt.where(col(AuditEvent.event) == query.event.strip())
    if query.actor is not None:
        stmt = stmt.where(col(AuditEvent.actor) == query.actor.strip())
    if query.since is not None:
        stmt = stmt.where(col(AuditEvent.at) >= query.since)
    if query.until is not None:
        stmt = stmt.where(col(AuditEvent.at) < query.until)
    if query.after_id:
        stmt = stmt.where(col(AuditEvent.id) > query.after_id)
    order = col(AuditEvent.id).desc() if query.newest_first else col(AuditEvent.id)
    stmt = stmt.order_by(order)
    if query.limit is not None:
        stmt = stmt.limit(query.limit)
    return stmt


def find_audit_events(session: Session, query: AuditQuery) -> list[AuditEvent]:
    dialect = session.get_bind().dialect.name
    return list(session.scalars(audit_statement(query, dialect)))
