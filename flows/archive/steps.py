"""The archive pipeline as plain functions (no Prefect): one recording, one step at a time.

Each step does one piece of work and moves the recording to its next state with an audit
event: committed in a transaction of its own, or, for a state left at once, staged to ride in
the next commit (``models.hops``). A crash therefore resumes at the last committed state; work
done but not committed (a download, an upload) is found again and reused rather than repeated:
partial downloads resume by Range, uploaded objects are found by key and hash
(``find_verified_copy``). The steps themselves live in ``source_steps`` and ``store_steps``;
this module discovers recordings and drives one recording through them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

from flows.archive import source_steps as steps_source
from flows.archive import store_steps as steps_archive
from flows.archive.common import (
    DiscoverReport,
    Outcome,
    S,
    StepReport,
    commit_pending,
    defer,
    record_error,
)
from flows.services import Services
from models.errors import (
    CatalogError,
    ClaimLost,
    ConfigError,
    MediaToolMissing,
    RecvaultError,
    SourceUnexpectedAnswer,
    WorkDirError,
)
from models.identity import identity_hmac
from models.ports import SourceRecording
from models.scope import EVERYTHING, ClaimScope
from models.states import IN_PROGRESS, TERMINAL, VERIFIED, RecordingState
from models.tables import Recording

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
    pending: list[SourceRecording] = []
    attention: Counter[str] = Counter()
    for source in deps.sources.values():
        for meta in source.list_recordings(since=start, until=until):
            pending.append(meta)
            listed += 1
            if meta.attention:
                attention[meta.attention] += 1
            if len(pending) >= batch:
                result = deps.catalog.upsert_discovered(
                    not_erased(deps, pending), at=deps.clock(), actor=deps.worker
                )
                new, updated, pending = new + result.new, updated + result.updated, []
    if pending:
        result = deps.catalog.upsert_discovered(
            not_erased(deps, pending), at=deps.clock(), actor=deps.worker
        )
        new, updated = new + result.new, updated + result.updated
    log.info("discovered listed=%d new=%d updated=%d", listed, new, updated)
    return DiscoverReport(
        listed=listed,
        new=new,
        updated=updated,
        since=start,
        until=until,
        attention=dict(attention),
    )


def not_erased(deps: Services, metas: list[SourceRecording]) -> list[SourceRecording]:
    """Drops the recordings of people an erasure request was for that started before the
    request: a later run must not archive them again. Matched by the keyed hash of the
    identity (``RECVAULT_IDENTITY_KEY``); new calls after the request are archived as usual."""
    key = deps.settings.identity_key
    if key is None:
        return metas
    secret = key.get_secret_value()
    hashes = {
        m.recording_id: identity_hmac(m.participant_identity, key=secret)
        for m in metas
        if m.participant_identity
    }
    erased = deps.catalog.erased_identities(hashes.values()) if hashes else {}
    if not erased:
        return metas
    keep: list[SourceRecording] = []
    skipped: list[str] = []
    for meta in metas:
        when = erased.get(hashes.get(meta.recording_id, ""))
        if when is not None and meta.started_at <= when:
            skipped.append(meta.recording_id)
        else:
            keep.append(meta)
    if skipped:
        deps.catalog.append_audit(
            event="erased_recordings_skipped",
            actor=deps.worker,
            at=deps.clock(),
            detail={"recordings": skipped},
        )
        log.info("skipped recordings of erased persons count=%d", len(skipped))
    return keep


# --- one recording ---------------------------------------------------------------------------


def process_recording(deps: Services, recording_id: str) -> StepReport:
    """Advance one claimed recording as far as it can go now; never raises a RecvaultError
    that belongs to the recording (those are recorded in the catalog), only catalog outages.

    The claim is renewed while the work goes on, so a slow recording (a large video, long
    back-offs) is not taken over by another worker; if it was taken over all the same, the
    recording is skipped here: it is the other worker's now.
    """
    report = StepReport(recording_id, Outcome.SKIPPED, S.DISCOVERED)
    lost = released = False
    try:
        with ClaimHeartbeat(deps, recording_id):
            row = deps.catalog.get(recording_id)
            report.state = row.state
            row = _advance(deps, row, report)
            # The last commit (archived, failed, deferred) usually let go of the claim
            # itself: a separate release would be one more write transaction per recording.
            released = row.claimed_by is None
    except ClaimLost as exc:
        log.warning("claim lost recording_id=%s: %s", recording_id, exc)
        report.outcome, report.error, lost = Outcome.SKIPPED, str(exc), True
        return report
    finally:
        if not lost and not released:
            try:
                deps.catalog.release(recording_id, worker=deps.worker)
            except CatalogError:
                log.warning("claim not released recording_id=%s", recording_id)
    report.state = row.state
    if report.error is None and row.state in (S.FAILED, S.QUARANTINED):
        # The run summary's problem line says why, not only FAILED.
        report.error = row.last_error
    tidy_work_folder(deps, recording_id, row.state)
    return report


def _advance(deps: Services, row: Recording, report: StepReport) -> Recording:
    recording_id = row.recording_id
    try:
        try:
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
        except BaseException:
            # What the steps staged is committed before the failure is recorded below.
            commit_pending(deps, recording_id, report)
            raise
    except ConfigError:
        # A route that does not exist, a source not configured: the deployment's problem.
        # The run stops with one line; the recording keeps its state and attempts.
        raise
    except SourceUnexpectedAnswer as exc:
        # An answer nobody documented: wait with the reason, no attempt used, a person told.
        row = defer(
            deps,
            deps.catalog.get(recording_id),
            f"unexpected answer from the source: {exc}",
            deps.settings.not_ready_retry_s,
            last_error=f"SourceUnexpectedAnswer: {exc}",
        )
        report.outcome = Outcome.WAITING
        report.error = str(exc)
        report.attention = "unknown status code"
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
    except MediaToolMissing as exc:
        # The machine's problem too, and every recording's: wait without using an attempt,
        # and stop the run (the error reaches the run's caller as one line).
        defer(
            deps,
            deps.catalog.get(recording_id),
            str(exc),
            _space_retry_s(deps),
            last_error=f"MediaToolMissing: {exc}",
        )
        raise
    except RecvaultError as exc:
        if isinstance(exc, CatalogError):
            raise
        row = record_error(deps, recording_id, exc)
        report.outcome = Outcome.FAILED if row.state == S.FAILED else Outcome.RETRY
        report.error = str(exc)
    return row


class ClaimHeartbeat:
    """Renews the worker's claim on one recording every third of the lease, in a thread."""

    def __init__(self, deps: Services, recording_id: str) -> None:
        self._deps = deps
        self._recording_id = recording_id
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"recvault-claim-{recording_id[:12]}", daemon=True
        )

    def __enter__(self) -> ClaimHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        deps = self._deps
        lease_s = deps.settings.lease_s
        while not self._stop.wait(lease_s / 3):
            try:
                renewed = deps.catalog.renew(
                    self._recording_id, worker=deps.worker, now=deps.clock(), lease_s=lease_s
                )
            except CatalogError as exc:  # an outage: the next beat tries again
                log.warning("claim not renewed recording_id=%s: %s", self._recording_id, exc)
                continue
            if not renewed:
                log.warning("claim lost recording_id=%s", self._recording_id)
                return


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


def claimable(deps: Services, limit: int, scope: ClaimScope = EVERYTHING) -> list[str]:
    return deps.catalog.claim(
        worker=deps.worker,
        limit=limit,
        now=deps.clock(),
        lease_s=deps.settings.lease_s,
        scope=scope,
    )
