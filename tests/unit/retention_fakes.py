"""Fakes for the tests/unit/test_retention_*.py modules: a dict-backed bucket with Object Lock
semantics (raising the real error types), a fake Infobip delete, and a catalog seeder."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from flows.services import Services
from models.errors import (
    ChecksumMismatch,
    LegalHoldActive,
    ObjectStoreError,
    RetentionNotExpired,
)
from models.policy.rules import Policy
from models.ports import DeletionReceipt, RecordingSource
from models.settings import Settings
from models.states import RecordingState
from models.tables import ArchivedObject, Recording
from storage.catalog.store import Catalog
from storage.s3.store import ObjectInfo, ObjectStore, VerifyResult
from tests.fixtures.db import make_meta

S = RecordingState


@dataclass
class _Version:
    info: ObjectInfo
    legal_hold: bool = False


class FakeStore:
    """Versions per key; deletion obeys legal hold and retention against ``now()``, like S3."""

    bucket = "fake-archive"

    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now
        self.versions: dict[tuple[str, str], _Version] = {}
        self.fail_deletes: set[str] = set()  # keys whose deletion raises ObjectStoreError
        self.fail_holds: set[str] = set()  # keys whose legal hold raises ObjectStoreError
        self.deleted: list[tuple[str, str | None]] = []
        self.verified: list[tuple[str, str | None]] = []
        self.object_lock: bool | None = True
        self.small: dict[tuple[str, str], tuple[ObjectInfo, bytes]] = {}

    def object_lock_enabled(self) -> bool | None:
        return self.object_lock

    def put(
        self,
        key: str,
        *,
        sha256: str,
        kind: str = "original",
        lock_mode: str | None = None,
        retain_until: datetime | None = None,
    ) -> str:
        version_id = uuid.uuid4().hex
        self.versions[(key, version_id)] = _Version(
            ObjectInfo(
                key=key,
                version_id=version_id,
                size_bytes=100,
                sha256=sha256,
                checksum_sha256=None,
                metadata={"sha256": sha256, "kind": kind},
                retain_until=retain_until,
                lock_mode=lock_mode,
                legal_hold=False,
                last_modified=None,
                is_latest=None,
            )
        )
        return version_id

    def iter_versions(self, prefix: str) -> Iterator[ObjectInfo]:
        for (key, _), version in sorted(self.versions.items()):
            if key.startswith(prefix):
                yield version.info
        for (key, _), (info, _body) in sorted(self.small.items()):
            if key.startswith(prefix):
                yield info

    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        retain_until: datetime | None = None,
        lock_mode: str | None = None,
    ) -> None:
        """Small objects (audit anchors) live apart from the recordings' versions."""
        version_id = uuid.uuid4().hex
        info = ObjectInfo(
            key=key,
            version_id=version_id,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            checksum_sha256=None,
            metadata={},
            retain_until=retain_until,
            lock_mode=lock_mode,
            legal_hold=False,
            last_modified=self.now(),
            is_latest=True,
        )
        self.small[(key, version_id)] = (info, data)

    def get_bytes(self, key: str, *, version_id: str | None = None) -> bytes:
        found = [body for (k, v), (_i, body) in self.small.items() if k == key]
        if not found:
            raise ObjectStoreError(f"s3://{self.bucket}/{key} is missing")
        return found[-1]

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo | None:
        small = [
            i for (k, v), (i, _b) in self.small.items() if k == key and version_id in (None, v)
        ]
        if small:
            return small[-1]
        version = self.versions.get((key, version_id or ""))
        if version is None:
            return None
        return replace(version.info, legal_hold=version.legal_hold)

    def verify(
        self, key: str, *, version_id: str | None, sha256: str, size_bytes: int
    ) -> VerifyResult:
        """Like ``ObjectStore.verify``: missing is ObjectStoreError, other bytes a mismatch."""
        self.verified.append((key, version_id))
        info = self.head(key, version_id=version_id)
        if info is None:
            raise ObjectStoreError(f"s3://{self.bucket}/{key} is missing: upload it again")
        if info.size_bytes != size_bytes or info.sha256 != sha256:
            raise ChecksumMismatch(f"s3://{self.bucket}/{key} reads back as other bytes")
        return VerifyResult(method="reread", size_bytes=size_bytes, sha256=sha256)

    def set_legal_hold(self, key: str, *, version_id: str | None, on: bool) -> None:
        if key in self.fail_holds:
            raise ObjectStoreError(f"s3://{self.bucket}/{key}: injected legal hold failure")
        self.versions[(key, version_id or "")].legal_hold = on

    def delete_version(
        self, key: str, *, version_id: str | None, bypass_governance: bool = False
    ) -> None:
        version = self.versions[(key, version_id or "")]
        if key in self.fail_deletes:
            raise ObjectStoreError(f"s3://{self.bucket}/{key}: injected failure")
        if version.legal_hold:
            raise LegalHoldActive(f"{key} is under legal hold")
        info = version.info
        bypass = bypass_governance and info.lock_mode == "GOVERNANCE"
        if info.retain_until and info.retain_until > self.now() and not bypass:
            raise RetentionNotExpired(f"{key} is retained ({info.lock_mode})")
        del self.versions[(key, version_id or "")]
        self.deleted.append((key, version_id))


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
