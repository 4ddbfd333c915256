"""``recvault serve``: every deployment served from this one process (small installations).

The same deployments as ``deployments/prefect.yaml`` (archive every 5 minutes, retention daily,
a backfill without schedule), run by this process instead of a work pool and workers. Served
runs build their services from this process's environment, like a worker's.
"""

from __future__ import annotations

import os

from models.errors import ConfigError

ARCHIVE_CRON = "*/5 * * * *"
RETENTION_CRON = "0 3 * * *"
RECONCILE_CRON = "0 5 * * *"
# Step and storage logs go to the flow run's logs in Prefect (never personal data).
EXTRA_LOGGERS = "flows,storage,models"


def require_prefect_server() -> str:
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        raise ConfigError(
            "recvault serve needs a Prefect server to hold the schedules: start one "
            "(prefect server start) and export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    return url


def serve_all(*, limit: int | None = None) -> None:
    require_prefect_server()
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", EXTRA_LOGGERS)
    from prefect import serve
    from prefect.deployments.runner import RunnerDeployment

    from flows.archive.flow import archive_recordings
    from flows.retention.flow import apply_retention

    def sync(made: object) -> RunnerDeployment:
        # to_deployment is sync-compatible: called outside an event loop it returns the value.
        if not isinstance(made, RunnerDeployment):
            raise TypeError(f"expected a RunnerDeployment, got {type(made).__name__}")
        return made

    serve(
        sync(
            archive_recordings.to_deployment(
                name="archive-scheduled",
                cron=ARCHIVE_CRON,
                concurrency_limit=1,
                description="List new recordings since the last run and archive them.",
            )
        ),
        sync(
            archive_recordings.to_deployment(
                name="archive-backfill",
                description="Ad-hoc backfill: run with since/until parameters.",
            )
        ),
        sync(
            apply_retention.to_deployment(
                name="retention-daily",
                cron=RETENTION_CRON,
                concurrency_limit=1,
                parameters={"dry_run": False},
                description="Apply the retention policy once a day.",
            )
        ),
        limit=limit,
        print_starting_message=True,
    )
