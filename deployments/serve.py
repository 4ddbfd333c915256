"""Serve the scheduled archive deployment from this process (no work pool needed).

    uv run python deployments/serve.py

For a fleet, use deployments/prefect.yaml with a work pool and workers instead.
"""

from __future__ import annotations

from flows.archive.flow import archive_recordings

if __name__ == "__main__":
    archive_recordings.serve(name="archive-scheduled", cron="*/15 * * * *")
