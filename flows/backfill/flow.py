"""Prefect flow ``backfill-recordings``: ``flows.backfill.run`` with each recording as a task
run of the archive flow's task and a progress artifact that moves with every chunk."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from prefect import flow
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from flows.archive.flow import prefect_submit
from flows.backfill.run import BackfillReport, run_backfill
from flows.services import ServicesFactory, factory_from_environment
from models.tables import Backfill


# ``factory`` is typed Any for Prefect's parameter model (see flows.archive.flow).
@flow(name="backfill-recordings", log_prints=False)
def backfill_recordings(
    since: datetime, until: datetime, chunk_hours: float = 24.0, factory: Any = None
) -> BackfillReport:
    """Archive every recording of [since, until), chunk by chunk, resuming where it stopped."""
    chosen: ServicesFactory = factory or factory_from_environment()
    artifact_id = create_progress_artifact(
        progress=0.0, key="backfill-progress", description=f"backfill {since} → {until}"
    )
    # Sync-compatible: called from a sync flow it returns the id itself.
    if not isinstance(artifact_id, UUID):
        raise TypeError(f"expected the artifact's id, got {type(artifact_id).__name__}")

    def on_chunk(state: Backfill) -> None:
        done = 100.0 * state.chunks_done / max(state.chunks_total, 1)
        update_progress_artifact(artifact_id=artifact_id, progress=done)

    with chosen.open() as services:
        return run_backfill(
            services,
            since,
            until,
            chunk=timedelta(hours=chunk_hours),
            submit=prefect_submit(chosen),
            on_chunk=on_chunk,
        )
