"""``recvault verify``: flows.verify.steps over a read-only catalog, for the CLI."""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress

from flows.verify.steps import VerifyReport, verify_archive
from models.settings import Settings
from recvault.wiring import evidence_store, open_reader
from storage.s3.store import ObjectStore


def run_verify(settings: Settings, *, progress: bool, deep: bool = False) -> VerifyReport:
    catalog = open_reader(settings)
    try:
        store = ObjectStore.from_settings(settings)
        anchors = evidence_store(settings)
        key = settings.identity_key.get_secret_value() if settings.identity_key else None
        if not progress:
            return verify_archive(catalog, store, deep=deep, anchors=anchors, identity_key=key)
        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("verifying objects", total=None)
            return verify_archive(
                catalog,
                store,
                deep=deep,
                on_object=lambda n: bar.update(task, completed=n),
                anchors=anchors,
                identity_key=key,
            )
    finally:
        catalog.close()
