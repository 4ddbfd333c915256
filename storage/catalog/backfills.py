"""Backfill progress rows: created once per period and chunk size, advanced chunk by chunk."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from models.tables import Backfill
from storage.catalog.leases import insert_ignoring_conflict


def start_or_resume(
    session: Session, *, since: datetime, until: datetime, chunk_s: int, at: datetime
) -> Backfill:
    total = -(-int((until - since).total_seconds()) // chunk_s)  # ceiling division
    insert_ignoring_conflict(
        session,
        Backfill,
        ("since", "until", "chunk_s"),
        {
            "since": since,
            "until": until,
            "chunk_s": chunk_s,
            "cursor": since,
            "chunks_total": total,
            "chunks_done": 0,
            "listed": 0,
            "created_at": at,
            "updated_at": at,
        },
    )
    return _find(session, since=since, until=until, chunk_s=chunk_s)


def _find(session: Session, *, since: datetime, until: datetime, chunk_s: int) -> Backfill:
    stmt = sa.select(Backfill).where(
        col(Backfill.since) == since, col(Backfill.until) == until, col(Backfill.chunk_s) == chunk_s
    )
    return session.scalars(stmt).one()


def chunk_done(
    session: Session, backfill_id: int, *, cursor: datetime, listed: int, at: datetime
) -> Backfill:
    row = session.get(Backfill, backfill_id, with_for_update=True)
    if row is None:
        raise LookupError(f"no backfill {backfill_id}")
    if cursor > row.cursor:  # two runs of the same backfill: each chunk counts once
        row.cursor = cursor
        row.chunks_done += 1
        row.listed += listed
    row.updated_at = at
    if row.cursor >= row.until and row.finished_at is None:
        row.finished_at = at
    session.flush()
    return row


def chunk_starts(row: Backfill) -> list[tuple[datetime, datetime]]:
    """The chunks still to do, oldest first."""
    step = timedelta(seconds=row.chunk_s)
    chunks = []
    start = row.cursor
    while start < row.until:
        chunks.append((start, min(start + step, row.until)))
        start += step
    return chunks
