"""``FakeStore``: a dict-backed archive bucket with versioning and Object Lock semantics.

It covers what the archive steps call on ``storage.s3.store.ObjectStore`` (``put_file``,
``head``, ``find_verified_copy``, ``verify``, ``ensure_retention``, ``ensure_usable``,
``bucket``), what the retention steps call (``iter_versions``, ``head`` of a version,
``set_legal_hold``, ``delete_version``, ``object_lock_enabled``) and what the audit anchors
use (``put_bytes``, ``get_bytes``), and raises the real ``models.errors`` types: deletion
obeys legal holds and retention against ``now()`` like S3; ``verify`` re-reads the stored
bytes (a version seeded by ``put`` has none: its recorded size and hash stand for them).
Faults are armed per operation (``fail``), optionally after the operation took effect (a
response lost on the way back); ``fail_deletes`` and ``fail_holds`` fail every call on a key;
``damage_next_put`` stores other bytes than were sent (corruption on the way in).
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from models.errors import (
    BucketPolicyError,
    ChecksumMismatch,
    LegalHoldActive,
    ObjectStoreError,
    RecvaultError,
    RetentionNotExpired,
)
from storage.s3.check import BucketReport
from storage.s3.objects import LockMode, ObjectInfo, VerifyResult
from storage.s3.store import SHA256_META
from storage.s3.transfer import PutResult


@dataclass
class _Version:
    info: ObjectInfo
    legal_hold: bool = False
    data: bytes | None = None  # None: a version seeded by ``put`` without bytes


@dataclass
class _Fault:
    error: RecvaultError
    times: int
    after: bool  # the operation takes effect, then the error is raised
    key_part: str  # only keys containing this


def _utc_now() -> datetime:
    return datetime.now(UTC)


class FakeStore:
    """Versions per key; the latest is the last one put. Thread-safe."""

    bucket = "fake-archive"

    def __init__(
        self, now: Callable[[], datetime] = _utc_now, *, object_lock: bool | None = True
    ) -> None:
        self.now = now
        self.object_lock = object_lock  # None: a store that will not say
        # False: like moto and some stores on multipart uploads, the lock headers of a put are
        # dropped, and put_file applies the retention afterwards (as ObjectStore.put_file does).
        self.keeps_lock_headers = True
        self.versions: dict[tuple[str, str], _Version] = {}
        self.fail_deletes: set[str] = set()  # keys whose deletion raises ObjectStoreError
        self.fail_holds: set[str] = set()  # keys whose legal hold raises ObjectStoreError
        self.deleted: list[tuple[str, str | None]] = []
        self.verified: list[tuple[str, str | None]] = []  # every verify call
        self.calls: Counter[str] = Counter()
        self.uploads: list[str] = []  # keys of every put_file that stored a version
        self.retention_set: list[tuple[str, str | None]] = []  # ensure_retention that changed
        self._faults: dict[str, _Fault] = {}
        self._damage: list[Callable[[bytes], bytes]] = []
        # put_bytes (the audit anchors), kept apart from the recordings' versions
        self.small: dict[tuple[str, str], tuple[ObjectInfo, bytes]] = {}
        self._lock = threading.RLock()

    def object_lock_enabled(self) -> bool | None:
        return self.object_lock

    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        metadata: Mapping[str, str] = {},
        retain_until: datetime | None = None,
        lock_mode: LockMode | None = None,
    ) -> PutResult | None:
        """A small object: an audit anchor is a new version each time, like S3, kept apart from
        the recordings' versions; a transcript (``metadata`` kind ``transcript``) is a version
        like any archived object."""
        if metadata.get("kind") == "transcript":
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "object"
                path.write_bytes(data)
                return self.put_file(
                    key,
                    path,
                    sha256=hashlib.sha256(data).hexdigest(),
                    content_type=content_type,
                    metadata=metadata,
                    retain_until=retain_until,
                    lock_mode=lock_mode,
                )
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
        with self._lock:
            self.small[(key, version_id)] = (info, data)
        return None

    def get_bytes(self, key: str, *, version_id: str | None = None) -> bytes:
        found = self._small(key, version_id)
        if not found:
            raise ObjectStoreError(f"s3://{self.bucket}/{key} is missing")
        return found[-1][1]

    def _small_info(self, key: str, version_id: str | None) -> ObjectInfo | None:
        found = self._small(key, version_id)
        return found[-1][0] if found else None

    def _small(self, key: str, version_id: str | None) -> list[tuple[ObjectInfo, bytes]]:
        with self._lock:
            return [
                entry
                for (k, v), entry in self.small.items()
                if k == key and version_id in (None, v)
            ]

    # --- faults -------------------------------------------------------------------------------

    def fail(
        self,
        operation: str,
        error: RecvaultError,
        *,
        times: int = 1,
        after: bool = False,
        key_part: str = "",
    ) -> None:
        """The next ``times`` calls of ``operation`` (a method name) on keys containing
        ``key_part`` raise ``error``; with ``after``, once the operation has taken effect."""
        self._faults[operation] = _Fault(error, times, after, key_part)

    def damage_next_put(self, how: Callable[[bytes], bytes]) -> None:
        """The next ``put_file`` stores ``how(bytes)`` instead of the bytes it was given."""
        self._damage.append(how)

    def _enter(self, operation: str, key: str = "") -> _Fault | None:
        """Count the call; raise an armed fault now, or return it to raise afterwards."""
        with self._lock:
            self.calls[operation] += 1
            fault = self._faults.get(operation)
            if fault is None or fault.times <= 0 or fault.key_part not in key:
                return None
            fault.times -= 1
        if not fault.after:
            raise fault.error
        return fault

    # --- seeding (retention tests) ------------------------------------------------------------

    def put(
        self,
        key: str,
        *,
        sha256: str,
        kind: str = "original",
        lock_mode: str | None = None,
        retain_until: datetime | None = None,
    ) -> str:
        """A version as an earlier archive run left it (metadata only, 100 bytes)."""
        version_id = uuid.uuid4().hex
        info = ObjectInfo(
            key=key,
            version_id=version_id,
            size_bytes=100,
            sha256=sha256,
            checksum_sha256=None,
            metadata={SHA256_META: sha256, "kind": kind},
            retain_until=retain_until,
            lock_mode=lock_mode,
            legal_hold=False,
            last_modified=None,
            is_latest=None,
        )
        with self._lock:
            self.versions[(key, version_id)] = _Version(info)
        return version_id

    # --- what the archive steps use ------------------------------------------------------------

    def ensure_usable(self, *, require_object_lock: bool, require_versioning: bool) -> BucketReport:
        self._enter("ensure_usable")
        problems = []
        if require_object_lock and not self.object_lock:
            problems.append("Object Lock is not enabled but the policy requires it")
        report = BucketReport(
            bucket=self.bucket,
            endpoint="memory",
            exists=True,
            versioning="Enabled",
            object_lock=bool(self.object_lock),
            default_retention=None,
            encryption=None,
            sha256_checksums=False,
            problems=problems,
            require_object_lock=require_object_lock,
            require_versioning=require_versioning,
        )
        if problems:
            raise BucketPolicyError(
                f"bucket {self.bucket!r} cannot be used: " + "; ".join(problems)
            )
        return report

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        sha256: str,
        content_type: str | None = None,
        metadata: Mapping[str, str] = {},
        retain_until: datetime | None = None,
        lock_mode: LockMode | None = None,
        confirm_lock: bool = True,
    ) -> PutResult:
        if (retain_until is None) != (lock_mode is None):
            raise ValueError("retain_until and lock_mode go together")
        if lock_mode is not None and not self.object_lock:
            raise ObjectStoreError(f"s3://{self.bucket}/{key}: the bucket has no Object Lock")
        fault = self._enter("put_file", key)
        data = path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256.lower():
            raise ChecksumMismatch(
                f"{path.name} hashes to {actual}, not the downloaded {sha256}: "
                f"refusing to upload {key}; download it again"
            )
        with self._lock:
            if self._damage:
                data = self._damage.pop(0)(data)
            version_id = uuid.uuid4().hex
            meta = {**metadata, SHA256_META: actual}
            if content_type:
                meta["content-type"] = content_type
            self.versions[(key, version_id)] = _Version(
                ObjectInfo(
                    key=key,
                    version_id=version_id,
                    size_bytes=len(data),
                    sha256=actual,
                    checksum_sha256=None,
                    metadata=meta,
                    retain_until=retain_until if self.keeps_lock_headers else None,
                    lock_mode=lock_mode if self.keeps_lock_headers else None,
                    legal_hold=False,
                    last_modified=self.now(),
                    is_latest=None,
                ),
                data=data,
            )
            self.uploads.append(key)
        if confirm_lock and retain_until is not None and lock_mode is not None:
            self.ensure_retention(key, version_id, retain_until, lock_mode)
        if fault is not None:
            raise fault.error
        return PutResult(
            key=key,
            version_id=version_id,
            size_bytes=len(data),
            checksum_sha256=None,
            multipart=False,
            parts=1,
        )

    def ensure_retention(
        self,
        key: str,
        version_id: str | None,
        until: datetime,
        mode: LockMode,
        *,
        seen: ObjectInfo | None = None,
    ) -> None:
        fault = self._enter("ensure_retention", key)
        with self._lock:
            version = self._version(key, version_id)
            if version is None:
                raise ObjectStoreError(f"s3://{self.bucket}/{key}: no such version {version_id}")
            info = version.info
            held = info.retain_until
            if info.lock_mode != mode or held is None or held < until - timedelta(seconds=1):
                if info.lock_mode == "COMPLIANCE" and held is not None and until < held:
                    raise ObjectStoreError(f"s3://{self.bucket}/{key}: cannot shorten COMPLIANCE")
                version.info = replace(info, lock_mode=mode, retain_until=until)
                self.retention_set.append((key, info.version_id))
        if fault is not None:
            raise fault.error

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo | None:
        """The version asked for, or the latest; None when there is none."""
        self._enter("head", key)
        small = self._small_info(key, version_id)
        if small is not None:
            return small
        with self._lock:
            version = self._version(key, version_id)
            if version is None:
                return None
            return self._info(key, version)

    def find_verified_copy(self, key: str, *, sha256: str, size_bytes: int) -> ObjectInfo | None:
        """The newest version whose ``sha256`` metadata and size match, like the real store."""
        self._enter("find_verified_copy", key)
        with self._lock:
            for (k, _), version in reversed(list(self.versions.items())):
                info = version.info
                if (
                    k == key
                    and info.metadata.get(SHA256_META, "").lower() == sha256.lower()
                    and info.size_bytes == size_bytes
                ):
                    return self._info(key, version)
        return None

    def verify(
        self,
        key: str,
        *,
        version_id: str | None,
        sha256: str,
        size_bytes: int,
        retain_until: datetime | None = None,
        lock_mode: LockMode | None = None,
    ) -> VerifyResult:
        """Re-reads the stored bytes (the store's checksums are never trusted here), and
        confirms the lock like the real store."""
        fault = self._enter("verify", key)
        if retain_until is not None and lock_mode is not None and fault is None:
            self.ensure_retention(key, version_id, retain_until, lock_mode)
        where = f"s3://{self.bucket}/{key}" + (f" version {version_id}" if version_id else "")
        with self._lock:
            self.verified.append((key, version_id))
            version = self._version(key, version_id)
            if version is None:
                raise ObjectStoreError(f"{where} is missing: upload it again")
            data = version.data
            info = version.info
        if data is None:  # seeded by put: what was recorded stands for the bytes
            if info.size_bytes != size_bytes or info.sha256 != sha256:
                raise ChecksumMismatch(f"{where} reads back as other bytes")
            if fault is not None:
                raise fault.error
            return VerifyResult(method="reread", size_bytes=size_bytes, sha256=sha256)
        if len(data) != size_bytes:
            raise ChecksumMismatch(f"{where} has {len(data)} bytes, expected {size_bytes}")
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256.lower():
            raise ChecksumMismatch(f"{where} reads back with SHA-256 {actual}, expected {sha256}")
        if fault is not None:
            raise fault.error
        return VerifyResult(method="reread", size_bytes=size_bytes, sha256=actual)

    # --- what the retention steps use -----------------------------------------------------------

    def iter_versions(self, prefix: str) -> Iterator[ObjectInfo]:
        with self._lock:
            listed = sorted(self.versions.items())
            small = sorted(self.small.items())
        for (key, _), version in listed:
            if key.startswith(prefix):
                yield version.info
        for (key, _), (info, _body) in small:
            if key.startswith(prefix):
                yield info

    def set_legal_hold(self, key: str, *, version_id: str | None, on: bool) -> None:
        self._enter("set_legal_hold", key)
        if key in self.fail_holds:
            raise ObjectStoreError(f"s3://{self.bucket}/{key}: injected legal hold failure")
        with self._lock:
            self.versions[(key, version_id or "")].legal_hold = on

    def delete_version(
        self, key: str, *, version_id: str | None, bypass_governance: bool = False
    ) -> None:
        self._enter("delete_version", key)
        with self._lock:
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

    # --- for assertions -----------------------------------------------------------------------

    def data(self, key: str, version_id: str | None = None) -> bytes | None:
        with self._lock:
            version = self._version(key, version_id)
            return None if version is None else version.data

    def list_keys(self, prefix: str) -> set[str]:
        self._enter("list_keys", prefix)
        with self._lock:
            keys = {key for key, _ in self.versions if key.startswith(prefix)}
            return {key for key in keys if self._latest(key) is not None}

    def object_keys(self) -> list[str]:
        with self._lock:
            return sorted({key for key, _ in self.versions})

    def version_ids(self, key: str) -> list[str]:
        with self._lock:
            return [v for k, v in self.versions if k == key]

    def _info(self, key: str, version: _Version) -> ObjectInfo:
        return replace(
            version.info, legal_hold=version.legal_hold, is_latest=version is self._latest(key)
        )

    def _latest(self, key: str) -> _Version | None:
        found = None
        for (k, _), version in self.versions.items():
            if k == key:
                found = version
        return found

    def _version(self, key: str, version_id: str | None) -> _Version | None:
        if version_id is None:
            return self._latest(key)
        return self.versions.get((key, version_id))
