"""Set-up for the tests/unit/test_retention_*.py modules over the shared fakes
(``tests.unit.fakes``: the dict-backed bucket with Object Lock semantics, the source whose
deletions are confirmed at once) and a seeder of archived recordings."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from flows.services import Services
from models.policy.rules import Policy
from models.ports import RecordingSource
from models.settings import Settings
from models.states import RecordingState
from models.tables import ArchivedObject
from storage.catalog.store import Catalog
from storage.s3.store import ObjectStore
from tests.fixtures.db import make_meta
from tests.unit.fakes import FakeSource, FakeStore

__all__ = ["FakeSource", "FakeStore", "make_deps", "seed_archived"]

S = RecordingState


def make_deps(
    catalog: Catalog, store: FakeStore, policy: Policy, clock: Callable[[], datetime]
) -> tuple[Services, FakeSource]:
    source = FakeSource()
    deps = Services(
        settings=Settings(_env_file=None),
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
    **fields: Any,
) -> None:
    """One recording taken to ARCHIVED the way the archive steps do, objects in ``store``."""
    at = started_at + timedelta(hours=1)
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
