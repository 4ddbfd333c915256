"""A backfill as plain Python: the period in chunks, each listed and archived before the next.

Processing starts with the first chunk; each finished chunk moves the backfill's cursor in the
catalog, so an interrupted backfill asked again for the same period resumes at its cursor. A
backfill never moves the schedule's watermark, claims only recordings of its chunk (so it never
takes the schedule's new recordings away from it), and holds a SQLite catalog's run lock one
chunk at a time, so scheduled runs get their turn between chunks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flows.archive import steps
from flows.archive.run import ProgressListener, Submit, advance_all
from flows.archive.runlock import archive_run_lock
from flows.archive.summary import RunSummary
from flows.archive.transcripts import archive_transcripts
from flows.audit.anchor import write_anchor
from flows.services import Services
from models.scope import ClaimScope
from models.tables import Backfill
from storage.catalog.backfills import chunk_starts

log = logging.getLogger(__name__)


@dataclass
class BackfillReport:
    backfill_id: int
    chunks_total: int
    chunks_done: int
    listed: int
    summary: RunSummary
    chunk_seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "backfill_id": self.backfill_id,
            "chunks_total": self.chunks_total,
            "chunks_done": self.chunks_done,
            "listed": self.listed,
            "run": self.summary.as_dict(),
        }


ChunkListener = Callable[[Backfill], None]


def run_backfill(
    deps: Services,
    since: datetime,
    until: datetime,
    *,
    chunk: timedelta,
    submit: Submit,
    on_chunk: ChunkListener | None = None,
    on_progress: ProgressListener | None = None,
) -> BackfillReport:
    summary = RunSummary(started_at=deps.clock(), since=since, until=until)
    deps.work.prepare()
    deps.bucket = deps.store.ensure_usable(
        require_object_lock=deps.policy.requires_object_lock, require_versioning=True
    )
    state = deps.catalog.backfill_start(
        since=since,
        until=until,
        chunk_s=int(chunk.total_seconds()),
        at=deps.clock(),
        actor=deps.worker,
    )
    backfill_id = state.id
    assert backfill_id is not None  # noqa: S101 - a stored row has its id
    if on_chunk:
        on_chunk(state)
    for start, end in chunk_starts(state):
        with archive_run_lock(deps):
            steps.sweep_work_dir(deps)
            discovery = steps.discover(deps, since=start, until=end)
            summary.listed += discovery.listed
            summary.new += discovery.new
            summary.updated += discovery.updated
            # The overlap margin widened the listing: claim what it may have found, too.
            scope = ClaimScope(started_from=discovery.since, started_to=end)
            advance_all(deps, summary, submit, on_progress, scope)
            summary.add_transcripts(archive_transcripts(deps, since=start, until=end))
        state = deps.catalog.backfill_chunk_done(
            backfill_id, cursor=end, listed=discovery.listed, at=deps.clock(), actor=deps.worker
        )
        log.info(
            "backfill chunk done backfill_id=%s cursor=%s chunks=%d/%d listed=%d",
            state.id,
            end.isoformat(),
            state.chunks_done,
            state.chunks_total,
            discovery.listed,
        )
        if on_chunk:
            on_chunk(state)
    summary.finished_at = deps.clock()
    summary.catalog = deps.catalog.counts_by_state()
    write_anchor(deps, run="backfill")
    return BackfillReport(
        backfill_id=backfill_id,
        chunks_total=state.chunks_total,
        chunks_done=state.chunks_done,
        listed=state.listed,
        summary=summary,
    )
