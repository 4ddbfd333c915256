"""The catalog: recordings, their archived objects and the audit chain, on SQLite or PostgreSQL.

Every public method is one short transaction. Writers start with BEGIN IMMEDIATE on SQLite and
lock the rows they change on PostgreSQL (``FOR UPDATE``; ``SKIP LOCKED`` for claims), so two
processes never claim the same recording nor fork the audit chain. Every state change and its
audit event commit together or not at all. Rows are returned detached: reading them never
touches the database again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models.errors import CatalogError, RecordingNotFound
from models.hops import Hop
from models.ports import SourceRecording
from models.scope import EVERYTHING, ClaimScope
from models.states import IN_PROGRESS, RecordingState, check_transition
from models.tables import ArchivedObject, AuditEvent, Backfill, Recording
from storage.catalog import backfills, leases, queries, requeue, words
from storage.catalog.audit import (
    ChainHead,
    PendingEvent,
    append_events,
    chain_head,
    events_after,
    verify_chain,
)
from storage.catalog.engine import (
    WRITE_OPTION,
    CatalogTarget,
    create_catalog_engine,
    parse_url,
    sqlite_writer_lock,
    translate_errors,
)
from storage.catalog.reading import ReadingCatalog
from storage.catalog.retention import RetentionCatalog
from storage.catalog.rows import (
    check_fields,
    new_row_values,
    refreshed_changes,
    require_aware,
    source_values,
    truncate_error,
)
from storage.catalog.schema import missing_catalog_message, require_head, upgrade_to_head
from storage.catalog.transcripts import TranscriptCatalog

log = logging.getLogger(__name__)
S = RecordingState


class UpsertResult(NamedTuple):
    new: int
    updated: int
    unchanged: int


class Catalog(RetentionCatalog, TranscriptCatalog, ReadingCatalog):
    def __init__(self, engine: sa.Engine, target: CatalogTarget) -> None:
        self._engine = engine
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self._target = target
        self._writer_lock = sqlite_writer_lock(target) if target.is_sqlite else None

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Catalog:
        target = parse_url(url)
        path = target.sqlite_path
        if not migrate and path is not None and not path.exists():
            # A read-only command creates nothing, not even an empty database file.
            raise CatalogError(missing_catalog_message(target))
        engine = create_catalog_engine(target)
        try:
            with translate_errors(target):
                if migrate:
                    upgrade_to_head(engine, target)
                else:
                    require_head(engine, target)
        except BaseException:
            engine.dispose()
            raise
        log.info("catalog opened where=%s backend=%s", target.where, target.backend)
        return cls(engine, target)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def is_sqlite(self) -> bool:
        return self._target.is_sqlite

    @property
    def url_for_display(self) -> str:
        return self._target.safe_url

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[Session]:
        engine = self._write_engine if write else self._engine
        with (
            self._writer_turn(write),
            translate_errors(self._target),
            Session(engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    def _writer_turn(self, write: bool) -> AbstractContextManager[object]:
        """SQLite has one writer at a time. Threads of this process queue here for it: a
        waiter wakes the moment the writer commits, where SQLite's busy handler would sleep
        up to 100 ms between polls (a quarter of the workers' time at 4 workers). Other
        processes still queue on busy_timeout."""
        if not write or self._writer_lock is None:
            return nullcontext()
        return self._writer_lock

    # --- discovery -----------------------------------------------------------------------------

    def upsert_discovered(
        self, metas: Iterable[SourceRecording], *, at: datetime, actor: str
    ) -> UpsertResult:
        require_aware("at", at)
        new = updated = unchanged = 0
        with self._tx(write=True) as session:
            events: list[PendingEvent] = []
            # One global lock order (by id) so concurrent upserts on PostgreSQL cannot deadlock.
            for meta in sorted(metas, key=lambda m: m.recording_id):
                values = new_row_values(meta, at=at)
                if leases.insert_ignoring_conflict(session, Recording, "recording_id", values):
                    words.add_words(session, meta.recording_id, meta.participant_name)
                    new += 1
                    events.append(_discovered_event(meta, at=at, actor=actor))
                    continue
                row = queries.lock_row(session, meta.recording_id)
                # An expired recording keeps only a tombstone: no personal data comes back.
                changes = (
                    {} if row.state == S.EXPIRED else refreshed_changes(row, source_values(meta))
                )
                if not changes:
                    unchanged += 1
                    continue
                for name, value in changes.items():
                    setattr(row, name, value)
                row.updated_at = at
                session.flush()
                updated += 1
                events.append(
                    PendingEvent(
                        event="source_updated",
                        actor=actor,
                        at=at,
                        recording_id=row.recording_id,
                        from_state=row.state,
                        to_state=row.state,
                        detail={"changed": sorted(changes)},
                    )
                )
            append_events(session, events)
            if new:
                # After the chain's lock: writers already queue there, not on this row.
                queries.add_to_total(session, new)
        log.info("upserted new=%d updated=%d unchanged=%d", new, updated, unchanged)
        return UpsertResult(new, updated, unchanged)

    # --- claims ----------------------------------------------------------------------------------

    def claim(
        self,
        *,
        worker: str,
        limit: int,
        now: datetime,
        lease_s: int,
        scope: ClaimScope = EVERYTHING,
    ) -> list[str]:
        require_aware("now", now)
        if limit <= 0:
            return []
        with self._tx(write=True) as session:
            return leases.claim(
                session, worker=worker, limit=limit, now=now, lease_s=lease_s, scope=scope
            )

    def renew(self, recording_id: str, *, worker: str, now: datetime, lease_s: int) -> bool:
        require_aware("now", now)
        with self._tx(write=True) as session:
            return leases.renew_claim(
                session, recording_id, worker=worker, now=now, lease_s=lease_s
            )

    def release(self, recording_id: str, *, worker: str) -> None:
        with self._tx(write=True) as session:
            leases.release_claim(session, recording_id, worker=worker)

    def release_claims(self, is_dead: Callable[[str], bool]) -> int:
        """Releases every claim whose holder ``is_dead`` says has died; returns how many."""
        with self._tx() as session:
            dead = [h for h in leases.claim_holders(session) if is_dead(h)]
        if not dead:
            return 0
        with self._tx(write=True) as session:
            return leases.release_claims_of(session, dead)

    # --- one recording ---------------------------------------------------------------------------

    def get(self, recording_id: str) -> Recording:
        with self._tx() as session:
            row = session.get(Recording, recording_id)
        if row is None:
            raise RecordingNotFound(f"recording {recording_id} is not in the catalog")
        return row

    def objects(self, recording_id: str) -> list[ArchivedObject]:
        with self._tx() as session:
            return queries.objects_by_recording(session, [recording_id])[recording_id]

    def transition(
        self,
        recording_id: str,
        to: RecordingState,
        *,
        actor: str,
        event: str,
        at: datetime,
        worker: str | None = None,
        detail: dict[str, Any] | None = None,
        objects: Sequence[ArchivedObject] = (),
        via: Sequence[Hop] = (),
        **fields: Any,
    ) -> Recording:
        """Moves the recording to ``to`` with its audit event; the hops ``via`` (transitions
        staged by the caller) first, in the same transaction."""
        require_aware("at", at)
        check_fields(fields)
        to = RecordingState(to)
        with self._tx(write=True) as session:
            row = queries.lock_row(session, recording_id)
            leases.check_claim(row, worker, at)
            events, staged = _take_hops(row, via, actor=actor)
            current = RecordingState(row.state)
            if to != current:
                check_transition(current, to)
            for name, value in fields.items():
                setattr(row, name, value)
            row.state = to
            row.updated_at = at
            if to not in IN_PROGRESS:
                row.claimed_by = row.claimed_until = None
            session.flush()
            queries.upsert_objects(session, recording_id, [*staged, *objects])
            events.append(PendingEvent(event, actor, at, recording_id, current, to, detail))
            append_events(session, events)
        log.info(
            "transition recording_id=%s from=%s to=%s event=%s", recording_id, current, to, event
        )
        return row

    def record_failure(
        self,
        recording_id: str,
        *,
        error: str,
        retryable: bool,
        at: datetime,
        actor: str,
        max_attempts: int,
        retry_at: datetime | None,
        worker: str | None = None,
        reset_to: RecordingState | None = None,
        via: Sequence[Hop] = (),
    ) -> Recording:
        require_aware("at", at)
        require_aware("retry_at", retry_at)
        message = truncate_error(error)
        with self._tx(write=True) as session:
            row = queries.lock_row(session, recording_id)
            leases.check_claim(row, worker, at)
            events, staged = _take_hops(row, via, actor=actor)
            queries.upsert_objects(session, recording_id, staged)
            current = RecordingState(row.state)
            attempts = row.attempts + 1
            final = not retryable or attempts >= max_attempts
            to = S.FAILED if final else RecordingState(reset_to or current)
            if to != current:
                check_transition(current, to)
            row.attempts = attempts
            row.last_error = message
            row.state = to
            row.updated_at = at
            row.next_attempt_at = None if final else retry_at
            row.claimed_by = row.claimed_until = None
            session.flush()
            detail: dict[str, Any] = {
                "error": message,
                "attempts": attempts,
                "retryable": retryable,
            }
            if not final:
                detail["retry_at"] = retry_at
            name = "failed" if final else "attempt_failed"
            events.append(PendingEvent(name, actor, at, recording_id, current, to, detail))
            append_events(session, events)
        log.info(
            "failure recorded recording_id=%s attempts=%d state=%s", recording_id, attempts, to
        )
        return row

    def defer(
        self,
        recording_id: str,
        *,
        until: datetime,
        reason: str,
        at: datetime,
        actor: str,
        worker: str | None = None,
        via: Sequence[Hop] = (),
        **fields: Any,
    ) -> Recording:
        require_aware("until", until)
        require_aware("at", at)
        check_fields(fields)
        with self._tx(write=True) as session:
            row = queries.lock_row(session, recording_id)
            leases.check_claim(row, worker, at)
            events, staged = _take_hops(row, via, actor=actor)
            queries.upsert_objects(session, recording_id, staged)
            for name, value in fields.items():
                setattr(row, name, value)
            row.next_attempt_at = until
            row.updated_at = at
            row.claimed_by = row.claimed_until = None
            session.flush()
            detail = {"reason": reason, "until": until}
            state = RecordingState(row.state)
            events.append(PendingEvent("deferred", actor, at, recording_id, state, state, detail))
            append_events(session, events)
        return row

    def requeue(
        self,
        *,
        recording_ids: Sequence[str] = (),
        status: str | None = None,
        actor: str,
        at: datetime,
        reason: str | None = None,
    ) -> list[tuple[str, str]]:
        """FAILED/QUARANTINED → DISCOVERED (attempts reset), each with a ``requeued`` audit
        event, in one transaction: the named recordings (all or none), or all in ``status``.
        Returns (recording id, the state it had) per re-queued recording."""
        require_aware("at", at)
        with self._tx(write=True) as session:
            rows = requeue.rows_to_requeue(session, recording_ids=recording_ids, status=status)
            before = [(row.recording_id, str(row.state)) for row in rows]
            events = [requeue.requeue_row(row, actor=actor, at=at, reason=reason) for row in rows]
            session.flush()
            append_events(session, events)
        log.info("requeued recordings=%d", len(before))
        return before

    # --- queries ---------------------------------------------------------------------------------

    def search(
        self,
        *,
        conversation_id: str | None = None,
        call_id: str | None = None,
        agent: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status: str | None = None,
        recording_id: str | None = None,
        limit: int | None = None,
    ) -> list[tuple[Recording, list[ArchivedObject]]]:
        with self._tx() as session:
            rows = queries.search_recordings(
                session,
                conversation_id=conversation_id,
                call_id=call_id,
                agent=agent,
                since=since,
                until=until,
                status=status,
                recording_id=recording_id,
                limit=limit,
            )
            objects = queries.objects_by_recording(session, [r.recording_id for r in rows])
        return [(row, objects[row.recording_id]) for row in rows]

    def counts_by_state(self) -> dict[str, int]:
        """Recordings per state; states with no recording are absent."""
        with self._tx() as session:
            return queries.counts_by_state(session)

    def next_due_at(
        self, scope: ClaimScope = EVERYTHING, states: Collection[RecordingState] = IN_PROGRESS
    ) -> datetime | None:
        with self._tx() as session:
            return queries.next_due_at(session, scope, states)

    def last_run_finished_at(self) -> datetime | None:
        with self._tx() as session:
            return queries.last_run_finished_at(session)

    def last_window_end(self) -> datetime | None:
        with self._tx() as session:
            return queries.last_window_end(session)

    # --- backfills --------------------------------------------------------------------------

    def backfill_start(
        self, *, since: datetime, until: datetime, chunk_s: int, at: datetime, actor: str
    ) -> Backfill:
        """The backfill of this period and chunk size: created, or found to resume."""
        for name, value in (("since", since), ("until", until), ("at", at)):
            require_aware(name, value)
        with self._tx(write=True) as session:
            row = backfills.start_or_resume(
                session, since=since, until=until, chunk_s=chunk_s, at=at
            )
            append_events(
                session,
                [
                    PendingEvent(
                        "backfill_started" if row.chunks_done == 0 else "backfill_resumed",
                        actor,
                        at,
                        detail={"backfill_id": row.id, "cursor": row.cursor.isoformat()},
                    )
                ],
            )
            return row

    def backfill_chunk_done(
        self, backfill_id: int, *, cursor: datetime, listed: int, at: datetime, actor: str
    ) -> Backfill:
        require_aware("cursor", cursor)
        with self._tx(write=True) as session:
            row = backfills.chunk_done(session, backfill_id, cursor=cursor, listed=listed, at=at)
            append_events(
                session,
                [
                    PendingEvent(
                        "backfill_chunk_done",
                        actor,
                        at,
                        detail={
                            "backfill_id": backfill_id,
                            "cursor": cursor.isoformat(),
                            "listed": listed,
                            "chunks_done": row.chunks_done,
                        },
                    )
                ],
            )
            return row

    # --- audit -----------------------------------------------------------------------------------

    def audit_events(self, recording_id: str | None = None) -> list[AuditEvent]:
        with self._tx() as session:
            return queries.audit_events(session, recording_id)

    def append_audit(
        self,
        *,
        event: str,
        actor: str,
        at: datetime,
        recording_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEvent:
        require_aware("at", at)
        pending = PendingEvent(event, actor, at, recording_id, detail=detail)
        with self._tx(write=True) as session:
            return append_events(session, [pending])[0]

    def verify_audit_chain(self) -> list[str]:
        with self._tx() as session:
            return verify_chain(session)

    def audit_chain_head(self) -> ChainHead | None:
        """The last event's id and hash, and the events per type (None: no event yet)."""
        with self._tx() as session:
            return chain_head(session)

    def iter_audit_events(self) -> Iterator[AuditEvent]:
        """Every audit event in id order, a batch per transaction (constant memory)."""
        last_id = 0
        while True:
            with self._tx() as session:
                batch = events_after(session, last_id)
            if not batch:
                return
            yield from batch
            last_id = batch[-1].id or last_id

    # --- named run locks -------------------------------------------------------------------------

    def acquire_lock(self, name: str, *, holder: str, now: datetime, lease_s: int) -> bool:
        require_aware("now", now)
        with self._tx(write=True) as session:
            return leases.acquire_lock(session, name, holder=holder, now=now, lease_s=lease_s)

    def renew_lock(self, name: str, *, holder: str, now: datetime, lease_s: int) -> bool:
        require_aware("now", now)
        with self._tx(write=True) as session:
            return leases.renew_lock(session, name, holder=holder, now=now, lease_s=lease_s)

    def release_lock(self, name: str, *, holder: str) -> None:
        with self._tx(write=True) as session:
            leases.release_lock(session, name, holder=holder)

    def lock_holder(self, name: str) -> str | None:
        with self._tx() as session:
            return leases.lock_holder(session, name)


def _discovered_event(meta: SourceRecording, *, at: datetime, actor: str) -> PendingEvent:
    # Ids and kind only: the audit log is never erased, so it carries no personal data.
    detail = {
        "source": meta.source,
        "conversation_id": meta.conversation_id,
        "call_id": meta.call_id,
        "media_type": meta.media_type,
        "started_at": meta.started_at,
    }
    return PendingEvent(
        "discovered", actor, at, meta.recording_id, None, S.DISCOVERED.value, detail
    )


def _take_hops(
    row: Recording, hops: Sequence[Hop], *, actor: str
) -> tuple[list[PendingEvent], list[ArchivedObject]]:
    """Applies staged transitions to the locked row, each checked as a commit of its own
    would be; returns their audit events and objects (written by the caller)."""
    events: list[PendingEvent] = []
    objects: list[ArchivedObject] = []
    for hop in hops:
        require_aware("at", hop.at)
        check_fields(hop.fields)
        current = RecordingState(row.state)
        if hop.to != current:
            check_transition(current, hop.to)
        for name, value in hop.fields.items():
            setattr(row, name, value)
        row.state = hop.to
        row.updated_at = hop.at
        objects.extend(hop.objects)
        events.append(
            PendingEvent(hop.event, actor, hop.at, row.recording_id, current, hop.to, hop.detail)
        )
        log.info(
            "transition recording_id=%s from=%s to=%s event=%s",
            row.recording_id,
            current,
            hop.to,
            hop.event,
        )
    return events, objects
