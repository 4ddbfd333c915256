"""``recvault verify``: wiring of flows.verify.steps for the CLI."""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress

from flows.verify.steps import VerifyReport, verify_archive
from models.settings import Settings
from storage.catalog.store import Catalog
from storage.s3.store import ObjectStore


def run_verify(settings: Settings, *, progress: bool, deep: bool = False) -> VerifyReport:
    catalog = Catalog.open(settings.resolved_database_url)
    try:
        store = ObjectStore.from_settings(settings)
        if not progress:
            return verify_archive(catalog, store, deep=deep)
        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("verifying objects", total=None)
            return verify_archive(
                catalog, store, deep=deep, on_object=lambda n: bar.update(task, completed=n)
            )
    finally:
        catalog.close()
