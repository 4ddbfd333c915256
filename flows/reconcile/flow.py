"""Prefect flow ``reconcile-recordings``: ``flows.reconcile.run`` with its report as a markdown
artifact; the run fails when a recording or an object is missing, so a Prefect automation on
failed runs (or the CLI's exit code) alerts someone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.reconcile.run import ReconcileReport, reconcile
from flows.services import ServicesFactory, factory_from_environment
from models.errors import ReconcileProblems

DEFAULT_DAYS = 7


def default_window(
    since: datetime | None, until: datetime | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """Without dates: the last ``DEFAULT_DAYS`` whole days up to now."""
    until = until or now
    if since is None:
        midnight = until.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        since = midnight - timedelta(days=DEFAULT_DAYS)
    return since, until


# ``factory`` is typed Any for Prefect's parameter model (see flows.archive.flow).
@flow(name="reconcile-recordings", log_prints=False)
def reconcile_recordings(
    since: datetime | None = None, until: datetime | None = None, factory: Any = None
) -> ReconcileReport:
    """Compare what Infobip lists, the catalog holds and the bucket holds, per day."""
    chosen: ServicesFactory = factory or factory_from_environment()
    with chosen.open() as services:
        start, end = default_window(since, until, now=services.clock())
        report = reconcile(services, start, end)
    create_markdown_artifact(
        report.to_markdown(), key="reconciliation", description="recvault reconciliation"
    )
    if not report.ok:
        totals = report.totals()
        raise ReconcileProblems(
            f"{totals.missing} recording(s) missing, {totals.lost_objects} object(s) lost"
        )
    return report
