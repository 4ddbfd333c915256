"""Helpers for the tests/unit/test_retention_*.py modules: a fake Infobip delete, services over
the shared dict-backed bucket (``tests.unit.fakes.store.FakeStore``), and a catalog seeder."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from flows.services import Services
from models.policy.rules import Policy
from models.ports import DeletionReceipt, RecordingSource
from models.settings import Settings
from models.states import RecordingState
from models.tables import ArchivedObject, Recording
from storage.catalog.store import Catalog
from storage.s3.store import ObjectStore
from tests.fixtures.db import make_meta
from tests.unit.fakes.store import FakeStore

S = RecordingState


class FakeSource:
    """The source port's deletion: confirmed at once (its other methods are not used here)."""

    name = "conversations"

    def __init__(self) -> None:
        self.deleted: list[str] = []
        self.on_delete: Callable[[Recording], None] | None = None  # runs inside the call
        self.unavailable: str | None = None  # set: source deletion is off

    def deletion_unavailable(self) -> str | None:
        return self.unavailable

    def delete(self, recording: Recording) -> DeletionReceipt:
        if self.on_delete is not None:
            self.on_delete(recording)
        if recording.recording_id not in self.deleted:
            self.deleted.append(recording.recording_id)
        return DeletionReceipt(recording.recording_id, "fake source forgot it")

    def close(self) -> None:
        pass


def make_deps(
    catalog: Catalog, store: FakeStore, policy: Policy, clock: Callable[[], datetime]
) -> tuple[Services, FakeSource]:
    source = FakeSource()
    deps = Services(
        settings=Settings(_env_file=None, identity_key="unit-identity-key-0123456789"),
        catalog=catalog,
        store=cast(ObjectStore, store),
        policy=policy,
        sources={"conversations": cast(RecordingSource, source)},
        clock=clock,
        actor="unit@test",
    )
    return deps, source


def seed_archived(
    catalog: Catalog,
    store: FakeStore,
    recording_id: str,
    *,
    started_at: datetime,
    lock_mode: str | None = None,
    retain_until: datetime | None = None,
    derivative: bool = False,
    archived_at: datetime | None = None,
    **fields: Any,
) -> None:
    """One recording taken to ARCHIVED the way the archive steps do, objects in ``store``;
    archived an hour after the call unless ``archived_at`` says otherwise (a backfill)."""
    at = archived_at or started_at + timedelta(hours=1)
    catalog.upsert_discovered(
        [make_meta(recording_id, started_at=started_at, **fields)], at=at, actor="t"
    )
    sha = hashlib.sha256(recording_id.encode()).hexdigest()
    for to in (S.READY, S.DOWNLOADED):
        catalog.transition(recording_id, to, actor="t", event=to.lower(), at=at, source_sha256=sha)
    objects = []
    kinds = ["original", "transcoded"] if derivative else ["original"]
    for kind in kinds:
        key = f"recordings/x/{recording_id}/{kind}.wav"
        digest = sha if kind == "original" else sha[::-1]
        version_id = store.put(
            key, sha256=digest, kind=kind, lock_mode=lock_mode, retain_until=retain_until
        )
        objects.append(
            ArchivedObject(
                recording_id=recording_id,
                kind=kind,
                bucket=store.bucket,
                key=key,
                version_id=version_id,
                size_bytes=100,
                sha256=digest,
                created_at=at,
                lock_mode=lock_mode,
                retain_until=retain_until,
                verified_at=at,
            )
        )
    catalog.transition(
        recording_id, S.UPLOADED, actor="t", event="uploaded", at=at, objects=objects
    )
    catalog.transition(
        recording_id,
        S.ARCHIVED,
        actor="t",
        event="archived",
        at=at,
        archived_at=at,
        objects=objects,
    )
