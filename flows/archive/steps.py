"""The archive pipeline as plain functions (no Prefect): one recording, one step at a time.

Each step reads the recording's committed state, does one piece of work, and commits the next
state with its audit event in one transaction. A crash between two steps therefore resumes at
the last committed state; work done but not committed (a download, an upload) is found again
and reused rather than repeated: partial downloads resume by Range, uploaded objects are found
by key and hash (``find_verified_copy``). The steps themselves live in ``steps_source`` and
``steps_archive``; this module discovers recordings and drives one recording through them.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from flows.archive import source_steps as steps_source
from flows.archive import store_steps as steps_archive
from flows.archive.common import DiscoverReport, Outcome, S, StepReport, defer, record_error
from flows.services import Services
from models.errors import CatalogError, RecvaultError, WorkDirError
from models.states import IN_PROGRESS, TERMINAL, VERIFIED, RecordingState

__all__ = [
    "DiscoverReport",
    "Outcome",
    "StepReport",
    "claimable",
    "discover",
    "process_recording",
    "sweep_work_dir",
]

log = logging.getLogger(__name__)

_STEPS = {
    S.DISCOVERED: steps_source.prepare,
    S.PREPARING: steps_source.prepare,
    S.READY: steps_source.download,
    S.DOWNLOADED: steps_archive.upload,
    S.UPLOADED: steps_archive.verify,
}


def discover(
    deps: Services, *, since: datetime, until: datetime, batch: int = 500
) -> DiscoverReport:
    """List the window (widened by the overlap margin) and upsert every element by recordingId."""
    start = since - timedelta(seconds=deps.settings.list_overlap_s)
    listed = new = updated = 0
    pending = []
    for source in deps.sources.values():
        for meta in source.list_recordings(since=start, until=until):
            pending.append(meta)
            listed += 1
            if len(pending) >= batch:
                result = deps.catalog.upsert_discovered(pending, at=deps.clock(), actor=deps.worker)
                new, updated, pending = new + result.new, updated + result.updated, []
    if pending:
        result = deps.catalog.upsert_discovered(pending, at=deps.clock(), actor=deps.worker)
        new, updated = new + result.new, updated + result.updated
    log.info("discovered listed=%d new=%d updated=%d", listed, new, updated)
    return DiscoverReport(listed=listed, new=new, updated=updated, since=start, until=until)


# --- one recording ---------------------------------------------------------------------------


def process_recording(deps: Services, recording_id: str) -> StepReport:
    """Advance one claimed recording as far as it can go now; never raises a RecvaultError
    that belongs to the recording (those are recorded in the catalog), only catalog outages."""
    report = StepReport(recording_id, Outcome.SKIPPED, S.DISCOVERED)
    try:
        row = deps.catalog.get(recording_id)
        while row.state in IN_PROGRESS:
            step = _STEPS[row.state]
            started = time.monotonic()
            row, outcome = step(deps, row, report)
            report.seconds[step.__name__] = time.monotonic() - started
            if outcome is not None:
                report.outcome = outcome
                break
            if row.state == S.ARCHIVED:
                report.outcome = Outcome.ARCHIVED
    except WorkDirError as exc:
        # The machine's problem, not the recording's: wait for space without using an attempt.
        row = defer(
            deps,
            deps.catalog.get(recording_id),
            str(exc),
            _space_retry_s(deps),
            last_error=f"WorkDirError: {exc}",
        )
        report.outcome = Outcome.WAITING
        report.error = str(exc)
    except RecvaultError as exc:
        if isinstance(exc, CatalogError):
            raise
        row = record_error(deps, recording_id, exc)
        report.outcome = Outcome.FAILED if row.state == S.FAILED else Outcome.RETRY
        report.error = str(exc)
    finally:
        try:
            deps.catalog.release(recording_id, worker=deps.worker)
        except CatalogError:
            log.warning("claim not released recording_id=%s", recording_id)
    report.state = row.state
    tidy_work_folder(deps, recording_id, row.state)
    return report


def _space_retry_s(deps: Services) -> float:
    return max(deps.settings.retry_backoff_s, 1.0)


def tidy_work_folder(deps: Services, recording_id: str, state: RecordingState) -> None:
    """A finished recording needs nothing in the work dir; a waiting one keeps only files."""
    if state in TERMINAL or state in VERIFIED:
        deps.work.clean(recording_id)
    else:
        deps.work.tidy(recording_id)


def sweep_work_dir(deps: Services) -> int:
    """Remove folders of recordings that are no longer in progress (a run killed right after
    a recording's last commit leaves its folder behind); returns how many."""
    removed = 0
    for recording_id in deps.work.folders():
        try:
            state = deps.catalog.get(recording_id).state
        except CatalogError as exc:
            if "not in the catalog" not in str(exc):
                raise
            state = None
        if state is None or state not in IN_PROGRESS:
            deps.work.clean(recording_id)
            removed += 1
        else:
            deps.work.tidy(recording_id)
    if removed:
        log.info("work dir swept folders_removed=%d", removed)
    return removed


def claimable(deps: Services, limit: int) -> list[str]:
    return deps.catalog.claim(
        worker=deps.worker, limit=limit, now=deps.clock(), lease_s=deps.settings.lease_s
    )
