"""Runs the archive and retention wings for the CLI: checks first, then the run, as a Prefect
flow where a Prefect server is configured and in process otherwise."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from flows.archive.run import ProgressListener
from flows.archive.steps import StepReport
from flows.archive.summary import RunSummary
from flows.backfill.run import BackfillReport, ChunkListener
from flows.reconcile.run import ReconcileReport
from flows.retention.steps import RetentionRun
from flows.services import Services
from models.errors import SourceAuthError, SourceUnavailable
from models.ports import RecordingSource
from models.tables import Backfill
from recvault.wiring import ServicesFactory

if TYPE_CHECKING:  # botocore only where a bucket is checked
    from storage.s3.check import BucketReport


def quiet_prefect_tracebacks() -> None:
    """Prefect logs a failed flow with its traceback; users get our one-line error instead."""

    class _NoTraceback(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.exc_info = None
            record.exc_text = None
            return True

    if os.environ.get("RECVAULT_DEBUG"):
        return
    for name in ("prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.engine"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(_NoTraceback())


def prefect_server_configured() -> bool:
    """A Prefect server (or Cloud) to report runs to: then commands run as Prefect flows.

    Without one, commands run the same loop in process, without starting Prefect's temporary
    server (15 s or more per command, and a time-out under load).
    """
    return bool(os.environ.get("PREFECT_API_URL"))


def preflight(factory: ServicesFactory) -> None:
    """Fail fast with one line, before any run starts, on what can be checked locally."""
    from storage import media

    media.require_tools()  # a missing ffprobe stops the run before it touches a recording
    # The checks take no Prefect rate-limit slots: a failed check must end as one line, not
    # leave Prefect's event queue to drain (and print) at exit.
    checks = dataclasses.replace(
        factory, settings=factory.settings.model_copy(update={"shared_rate_limits": False})
    )
    with checks.open() as services:
        preflight_checks(services)


def preflight_checks(services: Services) -> BucketReport:
    """The preflight on services already open; returns the bucket's report, so a run on the
    same services need not ask the bucket again."""
    from flows.archive.runlock import ensure_run_lock_free

    ensure_run_lock_free(services)
    for source in services.sources.values():
        check_source(source)
    services.work.prepare()
    return services.store.ensure_usable(
        require_object_lock=services.policy.requires_object_lock, require_versioning=True
    )


def check_source(source: RecordingSource) -> None:
    """One listing request (an empty one-second window): credentials and reachability."""
    now = datetime.now(UTC)
    try:
        next(iter(source.list_recordings(since=now - timedelta(seconds=1), until=now)), None)
    except SourceAuthError as exc:
        raise SourceAuthError(
            f"{exc}: check RECVAULT_INFOBIP_API_KEY (and that the key may read recordings)",
            status_code=exc.status_code,
        ) from None
    except SourceUnavailable as exc:
        if exc.status_code is not None:
            raise  # Infobip answered (429/5xx after retries): its own message says so
        raise SourceUnavailable(
            f"Infobip is unreachable ({exc}): check RECVAULT_INFOBIP_BASE_URL and the network"
        ) from None


def run_archive_cli(
    factory: ServicesFactory, since: datetime | None, until: datetime | None, *, progress: bool
) -> RunSummary:
    if prefect_server_configured():
        preflight(factory)
        return _run_archive_flow(factory, since, until)
    from flows.archive.run import run_archive_locally
    from storage import media

    media.require_tools()
    # In process, the checks and the run share one set of services: building them (clients,
    # catalog, policy) and asking the bucket twice cost a no-op run about a second.
    with factory.open() as services:
        bucket = preflight_checks(services)
        if not progress:
            return run_archive_locally(services, since, until, bucket=bucket)
        with _progress_bar() as listener:
            return run_archive_locally(services, since, until, on_progress=listener, bucket=bucket)


def _run_archive_flow(
    factory: ServicesFactory, since: datetime | None, until: datetime | None
) -> RunSummary:
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.archive.flow import archive_recordings

    quiet_prefect_tracebacks()
    runner: ThreadPoolTaskRunner[Any] = ThreadPoolTaskRunner(
        max_workers=factory.settings.concurrency
    )
    # Prefect's annotation wants the invariant base future type; the runner is the documented one.
    flow = archive_recordings.with_options(task_runner=runner)  # type: ignore[arg-type]
    return flow(since=since, until=until, factory=factory)


def run_backfill_cli(
    factory: ServicesFactory,
    since: datetime,
    until: datetime,
    *,
    chunk: timedelta,
    progress: bool,
) -> BackfillReport:
    preflight(factory)
    if prefect_server_configured():
        from flows.backfill.flow import backfill_recordings

        quiet_prefect_tracebacks()
        hours = chunk.total_seconds() / 3600
        return backfill_recordings(since=since, until=until, chunk_hours=hours, factory=factory)
    from flows.archive.run import thread_pool
    from flows.backfill.run import run_backfill

    with factory.open() as services, thread_pool(services) as submit:
        if not progress:
            return run_backfill(services, since, until, chunk=chunk, submit=submit)
        with _backfill_bar() as (on_chunk, on_progress):
            return run_backfill(
                services,
                since,
                until,
                chunk=chunk,
                submit=submit,
                on_chunk=on_chunk,
                on_progress=on_progress,
            )


@contextmanager
def _backfill_bar() -> Iterator[tuple[ChunkListener, ProgressListener]]:
    """Chunks done of all, with the rate of recordings and the time left."""
    counts: Counter[str] = Counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[rate]}"),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task_id = bar.add_task("backfill", total=None, rate="")
        started = time.monotonic()

        def on_chunk(state: Backfill) -> None:
            bar.update(task_id, total=state.chunks_total, completed=state.chunks_done)

        def on_progress(report: StepReport | None, inflight: int) -> None:
            if report is not None:
                counts[report.outcome.value] += 1
            rate = sum(counts.values()) / max(time.monotonic() - started, 1e-3)
            done = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            bar.update(task_id, rate=f"{rate:.1f} recordings/s ({done or '-'})")

        yield on_chunk, on_progress


def run_reconcile_cli(
    factory: ServicesFactory, since: datetime | None, until: datetime | None
) -> ReconcileReport:
    """Always in process: read-only and quick; the daily deployment is the Prefect flow."""
    from flows.reconcile.flow import default_window
    from flows.reconcile.run import reconcile

    with factory.open() as services:
        start, end = default_window(since, until, now=services.clock())
        return reconcile(services, start, end)


def run_retention_cli(factory: ServicesFactory, *, dry_run: bool) -> RetentionRun:
    if prefect_server_configured():
        from flows.retention.flow import apply_retention

        quiet_prefect_tracebacks()
        return apply_retention(dry_run=dry_run, factory=factory)
    from flows.retention.steps import run_retention

    with factory.open() as services:
        return run_retention(services, dry_run=dry_run)


@contextmanager
def _progress_bar() -> Iterator[ProgressListener]:
    counts: Counter[str] = Counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task_id = bar.add_task("archiving", total=None)

        def listener(report: StepReport | None, inflight: int) -> None:
            if report is not None:
                counts[report.outcome.value] += 1
            done = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            waiting = " (waiting for preparations)" if report is None else ""
            bar.update(
                task_id, description=f"archiving: {done or '-'}; in flight {inflight}{waiting}"
            )

        yield listener
