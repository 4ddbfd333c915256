"""Retry conditions shared by the Prefect tasks of every flow."""

from __future__ import annotations

from typing import Any

from models.errors import CatalogUnavailable


def retry_on_catalog_outage(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a task only when the catalog was briefly unreachable; other errors are recorded
    in the catalog by the task itself (or are final for this run)."""
    try:
        state.result()
    except CatalogUnavailable:
        return True
    except Exception:
        return False
    return False
