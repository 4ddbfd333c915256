"""Prefect flow ``archive-recordings``: the run loop of ``flows.archive.run`` with each
recording as a Prefect task run (retries on catalog outages, logs, the summary artifact).

Parameters are small values: the window, and the services factory that the CLI passes in
process; a deployed run builds its factory from the worker's environment.
"""

from __future__ import annotations

import concurrent.futures
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectWrappedFuture

from flows.archive import steps
from flows.archive.run import Submit, run_archive
from flows.archive.summary import RunSummary
from flows.retries import retry_on_catalog_outage
from flows.services import ServicesFactory, factory_from_environment


@task(
    name="discover-recordings",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_on_catalog_outage,
)
def discover_task(factory: Any, since: datetime, until: datetime) -> steps.DiscoverReport:
    with factory.open() as services:
        return steps.discover(services, since=since, until=until)


@task(
    name="archive-recording",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[1, 5, 20],
    retry_condition_fn=retry_on_catalog_outage,
    task_run_name="archive-{recording_id}",
)
def archive_task(factory: Any, recording_id: str) -> steps.StepReport:
    with factory.open() as services:
        return steps.process_recording(services, recording_id)


def prefect_submit(factory: ServicesFactory) -> Submit:
    """Each recording as an ``archive-recording`` task run; the loop gets a plain future."""

    def submit(recording_id: str) -> concurrent.futures.Future[steps.StepReport]:
        future = archive_task.submit(factory, recording_id)
        if not isinstance(future, PrefectWrappedFuture):
            raise TypeError("archive-recordings needs a thread or process task runner")
        # The runner's own future holds a Prefect state; the loop wants the task's result.
        report: concurrent.futures.Future[steps.StepReport] = concurrent.futures.Future()

        def settle(_: object) -> None:
            try:
                report.set_result(future.result())
            except BaseException as exc:
                report.set_exception(exc)

        future.wrapped_future.add_done_callback(settle)
        return report

    return submit


# ``factory`` is typed Any: Prefect builds a pydantic model of the parameters, and a Protocol
# has no schema. Left out (deployed runs), it comes from the worker's environment.
@flow(name="archive-recordings", log_prints=False)
def archive_recordings(
    since: datetime | None = None, until: datetime | None = None, factory: Any = None
) -> RunSummary:
    """One complete run: list the window, then archive every recording that can be archived."""
    chosen: ServicesFactory = factory or factory_from_environment()

    summary = RunSummary(started_at=datetime.now(UTC))
    try:
        with chosen.open() as services:
            run_archive(
                services,
                since,
                until,
                submit=prefect_submit(chosen),
                discover=lambda start, end: discover_task(chosen, start, end),
                summary=summary,
            )
    except Exception as exc:
        summary.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        # Written for a failed run too: what it did before it failed, and why it failed.
        create_markdown_artifact(
            summary.to_markdown(),
            key="archive-run-summary",
            description="recvault archive run summary",
        )
    get_run_logger().info("finished outcomes=%s", dict(summary.outcomes))
    return summary
