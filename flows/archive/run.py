"""One archive run as plain Python: discover the window, then keep ``concurrency`` recordings
in flight until nothing is due before the run's deadline.

The Prefect flow (``flows.archive.flow``) and the CLI's local run drive this same loop; they
differ only in how one recording is submitted (a Prefect task run, or a thread).
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from flows.archive import steps
from flows.archive.known_keys import KnownKeys
from flows.archive.runlock import archive_run_lock
from flows.archive.summary import RunSummary
from flows.archive.transcripts import archive_transcripts
from flows.audit.anchor import write_anchor
from flows.services import Services
from models.errors import CatalogUnavailable
from models.scope import NEWEST_FIRST, ClaimScope
from models.states import IN_PROGRESS, RecordingState
from storage import media

if TYPE_CHECKING:  # botocore only where a bucket is checked
    from storage.s3.check import BucketReport

log = logging.getLogger(__name__)
T = TypeVar("T")
# How long the run loop keeps retrying its catalog calls through an outage (the tasks' own
# retries, 1 + 5 + 20 s, cover about as long).
OUTAGE_BUDGET_S = 30.0

# What a run waits for by default: polls of preparations the source is working on.
PREPARATION_UNDER_WAY: frozenset[RecordingState] = frozenset({RecordingState.PREPARING})

Submit = Callable[[str], "concurrent.futures.Future[steps.StepReport]"]
Discover = Callable[[datetime, datetime], steps.DiscoverReport]
# Called in the run's thread for each finished recording (None: waiting) and the in-flight count.
ProgressListener = Callable[[steps.StepReport | None, int], None]


def default_window(
    deps: Services, since: datetime | None, until: datetime | None
) -> tuple[datetime, datetime]:
    now = deps.clock()
    until = until or now
    if since is None:
        watermark = deps.catalog.last_window_end()
        since = watermark or now - timedelta(days=deps.settings.default_lookback_days)
    return since, until


def next_watermark(current: datetime | None, start: datetime, end: datetime) -> datetime:
    """Where the next run without ``--since`` starts: the end of this run's window when the
    window joins on to the current watermark, else the watermark unchanged. A backfill of an
    old period therefore never moves the schedule back, and the watermark never goes back."""
    if current is None or start <= current < end:
        return end
    return current


def run_archive(
    deps: Services,
    since: datetime | None,
    until: datetime | None,
    *,
    submit: Submit,
    discover: Discover | None = None,
    on_progress: ProgressListener | None = None,
    summary: RunSummary | None = None,
    bucket: BucketReport | None = None,
) -> RunSummary:
    """``summary``: filled in as the run goes, so a caller still has it when the run fails.
    ``bucket``: the report of a bucket check the caller just made (its preflight), so the
    run does not ask the bucket again."""
    summary = summary or RunSummary(started_at=deps.clock())
    media.require_tools()
    deps.work.prepare()
    deps.bucket = bucket or deps.store.ensure_usable(
        require_object_lock=deps.policy.requires_object_lock, require_versioning=True
    )
    # One listing per day of keys instead of a HeadObject per upload (known_keys.py).
    deps.known_keys = KnownKeys(deps.store)
    try:
        _run_locked(deps, since, until, submit, discover, on_progress, summary)
    finally:
        deps.known_keys = None
    write_anchor(deps, run="archive")
    log.info("finished outcomes=%s catalog=%s", dict(summary.outcomes), summary.catalog)
    return summary


def _run_locked(
    deps: Services,
    since: datetime | None,
    until: datetime | None,
    submit: Submit,
    discover: Discover | None,
    on_progress: ProgressListener | None,
    summary: RunSummary,
) -> None:
    with archive_run_lock(deps):
        steps.sweep_work_dir(deps)
        window = default_window(deps, since, until)
        if discover is None:
            discovery = steps.discover(deps, since=window[0], until=window[1])
        else:
            discovery = discover(*window)
        summary.add_discovery(discovery)
        log.info("listed=%d new=%d updated=%d", discovery.listed, discovery.new, discovery.updated)
        # New recordings first: a backlog (a backfill's, a long outage's) never delays them.
        advance_all(deps, summary, submit, on_progress, NEWEST_FIRST)
        # After the recordings: a transcript takes the lock of its conversation's archived ones.
        # Also the conversations archived by runs killed before their transcripts (since the
        # last run that finished): their recordings may lie outside this window.
        finished = deps.catalog.last_run_finished_at()
        archived_since = min(summary.started_at, finished or summary.started_at)
        summary.add_transcripts(
            archive_transcripts(
                deps, since=window[0], until=window[1], archived_since=archived_since
            )
        )
        summary.finished_at = deps.clock()
        summary.catalog = deps.catalog.counts_by_state()
        for source in deps.sources.values():
            summary.source_stats.update(source.stats())
        # Read again now: a run that finished meanwhile may have moved it.
        watermark = next_watermark(deps.catalog.last_window_end(), *window)
        deps.catalog.append_audit(
            event="run_finished",
            actor=deps.worker,
            at=summary.finished_at,
            detail={
                "window_start": window[0].isoformat(),
                "window_end": window[1].isoformat(),
                "watermark": watermark.isoformat(),
                "outcomes": dict(summary.outcomes),
            },
        )


def ride_out_outage(call: Callable[[], T], *, budget_s: float = OUTAGE_BUDGET_S) -> T:
    """The loop's own catalog calls survive a short outage, as the tasks do by retrying."""
    deadline = time.monotonic() + budget_s
    delay_s = 0.25
    while True:
        try:
            return call()
        except CatalogUnavailable as exc:
            if time.monotonic() + delay_s > deadline:
                raise
            log.warning("catalog unavailable, retrying in %.2f s: %s", delay_s, exc)
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 5.0)


def advance_all(
    deps: Services,
    summary: RunSummary,
    submit: Submit,
    on_progress: ProgressListener | None,
    scope: ClaimScope,
) -> None:
    """Keep ``concurrency`` recordings in flight; return as soon as nothing is due now.

    Up to ``concurrency`` more are claimed ahead and wait in the runner's queue, claimed in
    batches: a worker that finishes starts its next recording at once instead of waiting for
    this loop to wake and claim (workers stood idle a fifth of the time at 4 workers), and
    there is one claim transaction per batch, not per recording.

    A recording that is waiting (video preparation, media not final, a retry back-off) is not
    claimed and holds no worker. When nothing is in flight and nothing can be claimed, the
    loop sleeps only for a video preparation under way whose next poll falls before the
    run's deadline: that wait is short and usually ends in an archived video. A retry
    back-off or media not final yet is the next run's work (sleeping for it made a run with
    nothing to do last minutes), unless ``wait_for_retries`` opts in.
    """
    limit = deps.settings.concurrency
    waits = IN_PROGRESS if deps.settings.wait_for_retries else PREPARATION_UNDER_WAY
    deadline = deps.clock() + timedelta(seconds=deps.settings.prepare_wait_s)
    inflight: set[concurrent.futures.Future[steps.StepReport]] = set()
    while True:
        if len(inflight) <= limit:
            free = 2 * limit - len(inflight)
            claimed = ride_out_outage(functools.partial(steps.claimable, deps, free, scope))
            inflight.update(submit(recording_id) for recording_id in claimed)
        if inflight:
            done, _ = concurrent.futures.wait(
                inflight, timeout=5, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                inflight.discard(future)
                report = future.result()
                summary.add(report)
                if on_progress:
                    on_progress(report, min(len(inflight), limit))
            continue
        due = ride_out_outage(functools.partial(deps.catalog.next_due_at, scope, waits))
        if due is None or due > deadline:
            return
        if on_progress:
            on_progress(None, 0)
        time.sleep(max(0.0, min((due - deps.clock()).total_seconds(), 5.0)) + 0.05)


@contextmanager
def thread_pool(deps: Services) -> Iterator[Submit]:
    """Runs without Prefect submit each recording to one of ``concurrency`` threads."""
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=deps.settings.concurrency, thread_name_prefix="recvault-archive"
    ) as pool:

        def submit(recording_id: str) -> concurrent.futures.Future[steps.StepReport]:
            return pool.submit(steps.process_recording, deps, recording_id)

        yield submit


def run_archive_locally(
    deps: Services,
    since: datetime | None,
    until: datetime | None,
    *,
    on_progress: ProgressListener | None = None,
    bucket: BucketReport | None = None,
) -> RunSummary:
    """The run without Prefect."""
    with thread_pool(deps) as submit:
        return run_archive(
            deps, since, until, submit=submit, on_progress=on_progress, bucket=bucket
        )
