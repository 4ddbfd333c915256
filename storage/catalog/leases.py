"""Leases: recording claims (many workers) and named run locks, each run in a caller's session.

A claim or lock belongs to its holder until its lease ends; an expired one is free for anyone.
On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED`` so concurrent claimers pass over each
other's rows instead of queueing or double-claiming; on SQLite the caller's BEGIN IMMEDIATE
already makes each claim exclusive.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col

from models.errors import ClaimLost
from models.scope import EVERYTHING, ClaimScope
from models.states import IN_PROGRESS
from models.tables import Recording, RunLock
from storage.catalog.queries import in_scope

_IN_PROGRESS_VALUES = sorted(s.value for s in IN_PROGRESS)


def rowcount(result: sa.Result[Any]) -> int:
    return cast(sa.CursorResult[Any], result).rowcount


def insert_ignoring_conflict(
    session: Session, model: type[Any], key: str | tuple[str, ...], values: dict[str, Any]
) -> bool:
    """INSERT ... ON CONFLICT (key columns) DO NOTHING; True when the row was inserted."""
    keys = (key,) if isinstance(key, str) else key
    table = cast(sa.Table, model.__table__)
    dialect = session.get_bind().dialect.name
    stmt: postgresql.Insert | sqlite.Insert = (
        postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    )
    stmt = stmt.values(**values).on_conflict_do_nothing(index_elements=list(keys))
    # RETURNING rather than rowcount: SQLAlchemy reports no rowcount for psycopg INSERTs.
    return session.execute(stmt.returning(table.c[keys[0]])).first() is not None


def check_claim(row: Recording, worker: str | None, now: datetime) -> None:
    """Raises ClaimLost when another worker's live claim covers ``row``."""
    if worker is None or row.claimed_by in (None, worker):
        return
    if row.claimed_until is not None and row.claimed_until > now:
        raise ClaimLost(
            f"recording {row.recording_id} is claimed by {row.claimed_by} "
            f"until {row.claimed_until.isoformat()}"
        )


def claim(
    session: Session,
    *,
    worker: str,
    limit: int,
    now: datetime,
    lease_s: int,
    scope: ClaimScope = EVERYTHING,
) -> list[str]:
    rid = col(Recording.recording_id)
    due = col(Recording.next_attempt_at)
    until = col(Recording.claimed_until)
    started = col(Recording.started_at)
    stmt = in_scope(
        sa.select(rid).where(
            col(Recording.state).in_(_IN_PROGRESS_VALUES),
            sa.or_(due.is_(None), due <= now),
            sa.or_(col(Recording.claimed_by).is_(None), until.is_(None), until <= now),
        ),
        scope,
    )
    order = (started.desc(), rid) if scope.newest_first else (started, rid)
    stmt = stmt.order_by(*order).limit(limit).with_for_update(skip_locked=True)
    ids = list(session.scalars(stmt))
    if ids:
        session.execute(
            sa.update(Recording)
            .where(rid.in_(ids))
            .values(claimed_by=worker, claimed_until=now + timedelta(seconds=lease_s))
            .execution_options(synchronize_session=False)
        )
    return ids


def renew_claim(
    session: Session, recording_id: str, *, worker: str, now: datetime, lease_s: int
) -> bool:
    stmt = (
        sa.update(Recording)
        .where(col(Recording.recording_id) == recording_id, col(Recording.claimed_by) == worker)
        .values(claimed_until=now + timedelta(seconds=lease_s))
        .execution_options(synchronize_session=False)
    )
    return rowcount(session.execute(stmt)) == 1


def release_claim(session: Session, recording_id: str, *, worker: str) -> None:
    session.execute(
        sa.update(Recording)
        .where(col(Recording.recording_id) == recording_id, col(Recording.claimed_by) == worker)
        .values(claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )


def claim_holders(session: Session) -> list[str]:
    stmt = sa.select(col(Recording.claimed_by)).where(col(Recording.claimed_by).is_not(None))
    return [h for h in session.scalars(stmt.distinct()) if h is not None]


def release_claims_of(session: Session, holders: Iterable[str]) -> int:
    stmt = (
        sa.update(Recording)
        .where(col(Recording.claimed_by).in_(list(holders)))
        .values(claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return rowcount(session.execute(stmt))


def acquire_lock(session: Session, name: str, *, holder: str, now: datetime, lease_s: int) -> bool:
    expires_at = now + timedelta(seconds=lease_s)
    values = {"name": name, "holder": holder, "expires_at": expires_at}
    if insert_ignoring_conflict(session, RunLock, "name", values):
        return True
    stmt = sa.select(RunLock).where(col(RunLock.name) == name).with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        # Released between the insert and this read; the caller's next attempt gets it.
        return False
    if row.holder != holder and row.expires_at > now:
        return False
    row.holder = holder
    row.expires_at = expires_at
    session.flush()
    return True


def renew_lock(session: Session, name: str, *, holder: str, now: datetime, lease_s: int) -> bool:
    stmt = (
        sa.update(RunLock)
        .where(col(RunLock.name) == name, col(RunLock.holder) == holder)
        .values(expires_at=now + timedelta(seconds=lease_s))
    )
    return rowcount(session.execute(stmt)) == 1


def release_lock(session: Session, name: str, *, holder: str) -> None:
    session.execute(
        sa.delete(RunLock).where(col(RunLock.name) == name, col(RunLock.holder) == holder)
    )


def lock_holder(session: Session, name: str) -> str | None:
    return session.scalar(sa.select(col(RunLock.holder)).where(col(RunLock.name) == name))
