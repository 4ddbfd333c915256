"""The auditor's searches as SQL: recordings by any filter of ``RecordingQuery``, and the audit
trail by ``AuditQuery``. Every filter is written so the database can use an index
(migration 0009 adds the ones these need; ``bench/bench_search.py`` checks the plans):

- an id prefix is a range (``id >= 'ab12' AND id < 'ab13'``) on SQLite, whose default
  collation orders bytes, and ``LIKE 'ab12%'`` on PostgreSQL, served by the
  ``text_pattern_ops`` indexes whatever the database's collation;
- identities compare ``lower(participant_identity)`` with the stored spellings of the normal
  form (``models.identity``), over an index on that expression;
- a name matches when it, or one of its words, starts with the text, case-insensitively: the
  name's start through an index on ``lower(participant_name)``, any word of it through the
  ``participant_words`` table (text with digits, ``@`` or ``:`` is not a name);
- a participant's ways to match are separate statements joined by UNION, so each uses its
  index (an OR of them would read the whole table).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from models.identity import identity_variants
from models.search import AuditQuery, IdMatch, RecordingQuery, name_words
from models.tables import AuditEvent, ParticipantWord, Recording
from storage.catalog.queries import recording_total
from storage.catalog.rows import states_for_status

AGENT_SPELLINGS = ("AGENT", "Agent", "agent")
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


def looks_like_name(text: str) -> bool:
    """Names have letters and no digits, ``@`` or scheme: ``hugo`` is searched as a name too,
    ``agent-7``, ``+44 7700 900825`` and ``sip:ana@pbx`` only as ids and identities."""
    return (
        any(c.isalpha() for c in text)
        and not any(c.isdigit() for c in text)
        and "@" not in text
        and ":" not in text
    )


def person_branches(text: str, dialect: str, column: Any) -> list[sa.Select[Any]]:
    """One SELECT of ``column`` per way a leg's participant can be ``text``: its id, its
    identity in any spelling of the normal form, the start of its name, a word of its name.
    Separate statements (joined by UNION) so each can use its own index; an OR of them would
    make the database read the whole table."""
    legs: list[Any] = [
        col(Recording.participant_id) == text.strip(),
        sa.func.lower(col(Recording.participant_identity)).in_(identity_variants(text)),
    ]
    branches = [sa.select(column).where(leg) for leg in legs]
    if looks_like_name(text):
        wanted = " ".join(text.lower().split())
        name = sa.func.lower(col(Recording.participant_name))
        branches.append(sa.select(column).where(starts_with(name, wanted, dialect)))
        words = name_words(text)
        if len(words) == 1:
            # Any word of the name (a surname, a second first name), from the words table.
            word = starts_with(col(ParticipantWord.word), words[0], dialect)
            branches.append(
                sa.select(column)
                .join(
                    ParticipantWord,
                    col(ParticipantWord.recording_id) == col(Recording.recording_id),
                )
                .where(word)
            )
    return branches


def _conversations_with(text: str, dialect: str, *, agent: bool) -> Any:
    branches = person_branches(text, dialect, col(Recording.conversation_id))
    if agent:
        # The column itself rather than upper(): the planner has statistics for it.
        is_agent = col(Recording.participant_type).in_(AGENT_SPELLINGS)
        branches = [b.where(is_agent) for b in branches]
    return col(Recording.conversation_id).in_(sa.union(*branches))


def recording_filters(query: RecordingQuery, dialect: str) -> list[Any]:
    where: list[Any] = []
    for name, match in query.id_filters.items():
        where.append(id_condition(getattr(Recording, name), match, dialect))
    if query.agent is not None:
        where.append(_conversations_with(query.agent, dialect, agent=True))
    if query.participant is not None:
        # Every leg of the participant's conversations, and a leg without a conversation (a
        # Calls recording) by itself; one IN over the primary key, since an OR of two IN
        # subqueries makes PostgreSQL read the whole table.
        conversations = sa.select(col(Recording.recording_id)).where(
            _conversations_with(query.participant, dialect, agent=False)
        )
        legs = person_branches(query.participant, dialect, col(Recording.recording_id))
        where.append(col(Recording.recording_id).in_(sa.union(conversations, *legs)))
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
    where = recording_filters(query, dialect)
    if not where:
        # Everything: the kept total, not a count of the whole table (60 ms at a million rows).
        return recording_total(session)
    stmt = sa.select(sa.func.count()).select_from(Recording).where(*where)
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
