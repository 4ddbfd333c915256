"""Runs the archive flow for the CLI: checks first (outside Prefect), then the flow."""

from __future__ import annotations

import logging
import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from flows.archive.steps import StepReport
from flows.archive.summary import RunSummary
from models.errors import SourceAuthError, SourceUnavailable
from models.settings import Settings
from storage.infobip.client import InfobipClient


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


def preflight(settings: Settings) -> None:
    """Fail fast with one line, before Prefect starts, on what can be checked locally."""
    from flows.archive.deps import build_deps
    from flows.archive.runlock import ensure_run_lock_free

    deps = build_deps(settings)
    try:
        ensure_run_lock_free(deps)
        check_infobip(deps.infobip)
        deps.workdir.prepare()
        deps.store.ensure_usable(
            require_object_lock=deps.policy.requires_object_lock, require_versioning=True
        )
    finally:
        deps.close()


def check_infobip(client: InfobipClient) -> None:
    """One metadata request (an empty one-second window): credentials and reachability."""
    now = datetime.now(UTC)
    try:
        next(
            iter(
                client.list_recordings(
                    started_from=now - timedelta(seconds=1), started_to=now, page_size=1
                )
            ),
            None,
        )
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
    settings: Settings, since: datetime | None, until: datetime | None, *, progress: bool
) -> RunSummary:
    preflight(settings)
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.archive.flow import archive_recordings, set_progress_listener

    quiet_prefect_tracebacks()
    runner: ThreadPoolTaskRunner[Any] = ThreadPoolTaskRunner(max_workers=settings.concurrency)
    # Prefect's annotation wants the invariant base future type; the runner is the documented one.
    flow = archive_recordings.with_options(task_runner=runner)  # type: ignore[arg-type]
    if not progress:
        return flow(since=since, until=until)
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

        set_progress_listener(listener)
        try:
            return flow(since=since, until=until)
        finally:
            set_progress_listener(None)
