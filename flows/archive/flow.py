"""Prefect flow ``archive-recordings``: discover, then advance every pending recording.

Thin on purpose: the work is in ``flows.archive.steps``; this module adds Prefect's task runs,
retries, logging and the run summary artifact.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, PrefectWrappedFuture

from flows.archive import steps
from flows.archive.deps import Deps, build_deps, current_deps, use_deps
from flows.archive.runlock import archive_run_lock
from flows.archive.summary import RunSummary
from flows.retries import retry_on_catalog_outage
from models.errors import CatalogUnavailable
from models.settings import load_settings

T = TypeVar("T")
# How long the run loop keeps retrying its catalog calls through an outage (the tasks' own
# retries, 1 + 5 + 20 s, cover about as long).
OUTAGE_BUDGET_S = 30.0

# Set by the CLI to drive a progress bar; called in the flow's thread for each finished recording.
ProgressListener = Callable[[steps.StepReport | None, int], None]
_listener: ProgressListener | None = None


def set_progress_listener(listener: ProgressListener | None) -> None:
    global _listener
    _listener = listener


@task(
    name="discover-recordings",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_on_catalog_outage,
)
def discover_task(since: datetime, until: datetime) -> steps.DiscoverReport:
    return steps.discover(current_deps(), since=since, until=until)


@task(
    name="archive-recording",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[1, 5, 20],
    retry_condition_fn=retry_on_catalog_outage,
    task_run_name="archive-{recording_id}",
)
def archive_task(recording_id: str) -> steps.StepReport:
    return steps.process_recording(current_deps(), recording_id)


def default_window(
    deps: Deps, since: datetime | None, until: datetime | None
) -> tuple[datetime, datetime]:
    now = deps.clock()
    until = until or now
    if since is None:
        watermark = deps.catalog.last_window_end()
        since = watermark or now - timedelta(days=deps.settings.default_lookback_days)
    return since, until


def run_archive(deps: Deps, since: datetime | None, until: datetime | None) -> RunSummary:
    """The body of the flow; callable directly with prepared deps (tests, the demo)."""
    logger = get_run_logger()
    summary = RunSummary(started_at=deps.clock())
    deps.workdir.prepare()
    deps.bucket = deps.store.ensure_usable(
        require_object_lock=deps.policy.requires_object_lock, require_versioning=True
    )
    with archive_run_lock(deps):
        steps.sweep_work_dir(deps)
        window = default_window(deps, since, until)
        discovery = discover_task(*window)
        summary.add_discovery(discovery)
        logger.info(
            "listed=%d new=%d updated=%d", discovery.listed, discovery.new, discovery.updated
        )
        _advance_all(deps, summary)
        summary.finished_at = deps.clock()
        summary.catalog = deps.catalog.counts_by_state()
        summary.source_stats = dataclasses.asdict(deps.infobip.stats)
        deps.catalog.append_audit(
            event="run_finished",
            actor=deps.worker,
            at=summary.finished_at,
            detail={
                "window_start": window[0].isoformat(),
                "window_end": window[1].isoformat(),
                "outcomes": dict(summary.outcomes),
            },
        )
    logger.info("finished outcomes=%s catalog=%s", dict(summary.outcomes), summary.catalog)
    return summary


def _ride_out_outage(call: Callable[[], T], *, budget_s: float = OUTAGE_BUDGET_S) -> T:
    """The loop's own catalog calls survive a short outage, as the tasks do by retrying."""
    deadline = time.monotonic() + budget_s
    delay_s = 0.25
    while True:
        try:
            return call()
        except CatalogUnavailable as exc:
            if time.monotonic() + delay_s > deadline:
                raise
            get_run_logger().warning("catalog unavailable, retrying in %.2f s: %s", delay_s, exc)
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 5.0)


def _advance_all(deps: Deps, summary: RunSummary) -> None:
    """Keep ``concurrency`` recordings in flight; wait for deferred ones only within the budget.

    A recording that is waiting (video preparation, media not final) is not claimed and holds
    no worker; the loop sleeps only when nothing is due and something becomes due before the
    run's deadline.
    """
    limit = deps.settings.concurrency
    deadline = deps.clock() + timedelta(seconds=deps.settings.prepare_wait_s)
    inflight: dict[concurrent.futures.Future[Any], PrefectFuture[steps.StepReport]] = {}
    while True:
        free = limit - len(inflight)
        if free > 0:
            claimed = _ride_out_outage(functools.partial(steps.claimable, deps, free))
            for recording_id in claimed:
                future = archive_task.submit(recording_id)
                if not isinstance(future, PrefectWrappedFuture):
                    raise TypeError("archive-recordings needs a thread or process task runner")
                inflight[future.wrapped_future] = future
        if inflight:
            done, _ = concurrent.futures.wait(
                inflight, timeout=5, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for raw in done:
                report = inflight.pop(raw).result()
                summary.add(report)
                if _listener:
                    _listener(report, len(inflight))
            continue
        due = _ride_out_outage(deps.catalog.next_due_at)
        if due is None or due > deadline:
            return
        if _listener:
            _listener(None, 0)
        time.sleep(max(0.0, min((due - deps.clock()).total_seconds(), 5.0)) + 0.05)


@flow(name="archive-recordings", log_prints=False)
def archive_recordings(since: datetime | None = None, until: datetime | None = None) -> RunSummary:
    """One complete run: list the window, then archive every recording that can be archived."""
    deps = build_deps(load_settings())
    try:
        with use_deps(deps):
            summary = run_archive(deps, since, until)
    finally:
        deps.close()
    create_markdown_artifact(
        summary.to_markdown(), key="archive-run-summary", description="recvault archive run summary"
    )
    return summary
