"""The archive store: one S3 bucket (AWS or S3-compatible) behind a small typed seam.

Nothing here relies on a feature only some stores have. SHA-256 checksums are used only when
the checksum mode says so (``auto``: on AWS, i.e. without an endpoint URL); verification never
silently degrades: when the store gives back no usable SHA-256, the object is read back and
hashed. Our full-file SHA-256 travels in the object metadata (``sha256``), and multipart
objects also record the composite of their part hashes (``sha256-parts``), so the archive
describes itself and a composite checksum can be checked without reading the object back.

botocore exceptions stop here (see ``storage.s3.client.translate_error``).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from models.errors import (
    BucketPolicyError,
    ChecksumMismatch,
    ConfigError,
    LegalHoldActive,
    ObjectStoreError,
    RetentionNotExpired,
    StorageError,
    WorkDirError,
)
from storage.s3.check import BucketReport, object_lock_status, run_bucket_check
from storage.s3.client import (
    MISSING_KEY_CODES,
    error_code,
    http_status,
    make_client,
    translate_error,
    translated,
)
from storage.s3.transfer import (
    MIN_PART_BYTES,
    MiB,
    PutResult,
    Uploader,
    b64_to_hex,
    etag_parts,
    hash_file,
    part_size_for,
    sha256_hex_to_b64,
    split_composite,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

    from models.settings import Settings

__all__ = [
    "BucketReport",
    "ObjectInfo",
    "ObjectStore",
    "PutResult",
    "VerifyResult",
    "make_client",
]

from storage.s3.objects import ChecksumMode, LockMode, ObjectInfo, SseMode, VerifyResult

log = logging.getLogger(__name__)

SHA256_META = "sha256"
PARTS_META = "sha256-parts"
READ_CHUNK_BYTES = 1 * MiB


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _listed(item: Any, version_id: str | None, *, is_latest: bool | None) -> ObjectInfo:
    return ObjectInfo(
        key=item["Key"],
        version_id=version_id,
        size_bytes=item.get("Size", 0),
        sha256=None,
        checksum_sha256=None,
        metadata={},
        retain_until=None,
        lock_mode=None,
        legal_hold=None,
        last_modified=_utc(item.get("LastModified")),
        is_latest=is_latest,
        etag=item.get("ETag"),
        multipart=etag_parts(item.get("ETag")) is not None,
    )


class ObjectStore:
    """One bucket of the archive. Safe to share across threads (boto3 clients are)."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        checksum: ChecksumMode = "auto",
        sse: SseMode = "AES256",
        kms_key_id: str | None = None,
        multipart_threshold_bytes: int = 64 * MiB,
        part_size_bytes: int = 16 * MiB,
        max_concurrency: int = 4,
        client: S3Client | None = None,
    ) -> None:
        if part_size_bytes < MIN_PART_BYTES:
            raise ConfigError(f"S3 part size must be at least 5 MiB, got {part_size_bytes} bytes")
        if kms_key_id and sse != "aws:kms":
            raise ConfigError(
                "RECVAULT_S3_SSE_KMS_KEY_ID is set but RECVAULT_S3_SSE is not aws:kms"
            )
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.checksum_mode: ChecksumMode = checksum
        self.sse: SseMode = sse
        self.kms_key_id = kms_key_id
        self.multipart_threshold_bytes = max(multipart_threshold_bytes, part_size_bytes)
        self.part_size_bytes = part_size_bytes
        self.max_concurrency = max(1, max_concurrency)
        if client is None:
            with self._translated("CreateClient"):
                client = make_client(
                    endpoint_url=endpoint_url,
                    region=region,
                    max_pool_connections=max(10, self.max_concurrency * 2),
                )
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStore:
        """Credentials and region come from the standard AWS variables or profile."""
        return cls(
            settings.bucket,
            endpoint_url=settings.s3_endpoint_url,
            checksum=settings.s3_checksum,
            sse=settings.s3_sse,
            kms_key_id=settings.s3_sse_kms_key_id,
            multipart_threshold_bytes=settings.s3_multipart_threshold_bytes,
            part_size_bytes=settings.s3_part_size_bytes,
            max_concurrency=settings.concurrency,
        )

    @property
    def client(self) -> S3Client:
        return self._client

    @property
    def where(self) -> str:
        return self.endpoint_url or "AWS S3"

    @property
    def checksums_enabled(self) -> bool:
        """``auto`` trusts SHA-256 checksums on AWS only; other stores opt in with ``sha256``."""
        if self.checksum_mode == "auto":
            return self.endpoint_url is None
        return self.checksum_mode == "sha256"

    def close(self) -> None:
        self._client.close()

    # --- bucket -----------------------------------------------------------------------------

    def check_bucket(
        self, *, require_object_lock: bool = False, require_versioning: bool = False
    ) -> BucketReport:
        return run_bucket_check(
            self, require_object_lock=require_object_lock, require_versioning=require_versioning
        )

    def object_lock_enabled(self) -> bool | None:
        """Whether the bucket has Object Lock (so S3 legal holds work); None: the store would
        not say. One request, cheaper than ``check_bucket``."""
        return object_lock_status(self)

    def ensure_usable(self, *, require_object_lock: bool, require_versioning: bool) -> BucketReport:
        report = self.check_bucket(
            require_object_lock=require_object_lock, require_versioning=require_versioning
        )
        if report.problems:
            raise BucketPolicyError(
                f"bucket {self.bucket!r} at {self.where} cannot be used: "
                + "; ".join(report.problems)
            )
        return report

    # --- upload -----------------------------------------------------------------------------

    def sse_args(self) -> dict[str, Any]:
        if self.sse == "none":
            return {}  # some stores reject any SSE header
        args: dict[str, Any] = {"ServerSideEncryption": self.sse}
        if self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args

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
        """Upload ``path`` as ``key``; the file must still hash to ``sha256``.

        Object Lock takes both ``retain_until`` (timezone-aware) and ``lock_mode``.
        ``confirm_lock=False``: the caller confirms the lock itself (the archive's
        :meth:`verify` does, with the same HeadObject that checks the bytes).
        """
        if (retain_until is None) != (lock_mode is None):
            raise ValueError("retain_until and lock_mode go together")
        if retain_until is not None and retain_until.tzinfo is None:
            raise ValueError("retain_until must be timezone-aware")
        try:
            size = path.stat().st_size
            multipart = size > self.multipart_threshold_bytes
            digest = hash_file(
                path, part_size_for(size, self.part_size_bytes) if multipart else None
            )
        except OSError as exc:
            raise WorkDirError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if digest.sha256_hex != sha256.lower():
            # The work file changed since it was downloaded: never archive other bytes.
            raise ChecksumMismatch(
                f"{path.name} hashes to {digest.sha256_hex}, not the downloaded {sha256}: "
                f"refusing to upload {key}; download it again"
            )
        meta = {**metadata, SHA256_META: digest.sha256_hex}
        if multipart:
            meta[PARTS_META] = digest.composite_b64
        common: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Metadata": meta}
        common.update(self.sse_args())
        if content_type:
            common["ContentType"] = content_type
        if retain_until is not None:
            common["ObjectLockMode"] = lock_mode
            common["ObjectLockRetainUntilDate"] = retain_until
        uploader = Uploader(
            client=self._client,
            bucket=self.bucket,
            endpoint=self.where,
            checksums=self.checksums_enabled,
            max_concurrency=self.max_concurrency,
        )
        result = uploader.upload(key, path, digest, common)
        if confirm_lock and retain_until is not None and lock_mode is not None:
            self.ensure_retention(key, result.version_id, retain_until, lock_mode)
        log.info(
            "s3 put key=%s version_id=%s bytes=%d parts=%d checksum=%s",
            key,
            result.version_id,
            result.size_bytes,
            result.parts,
            "sha256" if self.checksums_enabled else "off",
        )
        return result

    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        metadata: Mapping[str, str] = {},
        retain_until: datetime | None = None,
        lock_mode: LockMode | None = None,
    ) -> PutResult:
        """A small object from memory (an audit anchor, a transcript), through the same upload
        path as the archive's files: checksums, encryption, and an Object Lock confirmed after
        the put."""
        with tempfile.TemporaryDirectory(prefix="recvault-put-") as folder:
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

    def get_bytes(self, key: str, *, version_id: str | None = None, limit: int = MiB) -> bytes:
        """A small object's bytes (at most ``limit``: anchors are a few hundred bytes)."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        with self._translated("GetObject", key=key):
            body = self._client.get_object(**kwargs)["Body"]
            try:
                return bytes(body.read(limit))
            finally:
                body.close()

    def presigned_get(
        self,
        key: str,
        *,
        version_id: str | None,
        expires_s: int,
        content_type: str | None = None,
        download_name: str | None = None,
    ) -> str:
        """A GET link for one object version, valid ``expires_s`` seconds, signed locally
        (no request is sent). The signature is a credential: never log the link."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        if content_type:
            params["ResponseContentType"] = content_type
        if download_name:
            # Only a plain file name: the header value is the caller's, quotes would break it.
            safe = "".join(c for c in download_name if c.isalnum() or c in "._-") or "recording"
            params["ResponseContentDisposition"] = f'attachment; filename="{safe}"'
        with self._translated("PresignGetObject", key=key):
            url: str = self._client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_s
            )
        return url

    def ensure_retention(
        self,
        key: str,
        version_id: str | None,
        until: datetime,
        mode: LockMode,
        *,
        seen: ObjectInfo | None = None,
    ) -> None:
        """Confirm the lock took; apply it when the store dropped it (moto and some stores
        ignore lock headers on multipart uploads). Never leave evidence unlocked silently.
        ``seen``: a HeadObject of this version the caller just made (no second one)."""

        def held(info: ObjectInfo | None) -> bool:
            return (
                info is not None
                and info.lock_mode == mode
                and info.retain_until is not None
                and info.retain_until >= until - timedelta(seconds=1)
            )

        if held(seen or self.head(key, version_id=version_id)):
            return
        log.info("s3 retention missing after upload key=%s version_id=%s", key, version_id)
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Retention": {"Mode": mode, "RetainUntilDate": until},
        }
        if version_id:
            args["VersionId"] = version_id
        with self._translated("PutObjectRetention", key=key):
            self._client.put_object_retention(**args)
        if not held(self.head(key, version_id=version_id)):
            raise BucketPolicyError(
                f"{self.where} did not keep the Object Lock retention of s3://{self.bucket}/{key}: "
                "use a store with Object Lock support or a policy without a lock"
            )

    # --- read -------------------------------------------------------------------------------

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo | None:
        return self.head_object(key, version_id=version_id, checksum=self.checksums_enabled)

    def head_object(self, key: str, *, version_id: str | None, checksum: bool) -> ObjectInfo | None:
        """HeadObject; ``checksum`` asks for the stored checksum (the self-check forces it)."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        if checksum:
            kwargs["ChecksumMode"] = "ENABLED"
        try:
            resp = self._client.head_object(**kwargs)
        except ClientError as exc:
            # 405: the version asked for is a delete marker.
            if http_status(exc) in (404, 405) or error_code(exc) in MISSING_KEY_CODES:
                return None
            raise self.translate(exc, op="HeadObject", key=key) from exc
        except BotoCoreError as exc:
            raise self.translate(exc, op="HeadObject", key=key) from exc
        etag = resp.get("ETag")
        checksum_value = resp.get("ChecksumSHA256")
        metadata = dict(resp.get("Metadata", {}))
        multipart = (
            etag_parts(etag) is not None
            or resp.get("ChecksumType") == "COMPOSITE"
            or (checksum_value is not None and split_composite(checksum_value)[1] is not None)
        )
        sha = metadata.get(SHA256_META, "").lower() or None
        if sha is None and checksum_value and not multipart:
            sha = b64_to_hex(checksum_value)
        hold = resp.get("ObjectLockLegalHoldStatus")
        return ObjectInfo(
            key=key,
            version_id=resp.get("VersionId"),
            size_bytes=resp.get("ContentLength", 0),
            sha256=sha,
            checksum_sha256=checksum_value,
            metadata=metadata,
            retain_until=_utc(resp.get("ObjectLockRetainUntilDate")),
            lock_mode=resp.get("ObjectLockMode"),
            legal_hold=None if hold is None else hold == "ON",
            last_modified=_utc(resp.get("LastModified")),
            is_latest=True if version_id is None else None,
            etag=etag,
            multipart=multipart,
        )

    def find_verified_copy(self, key: str, *, sha256: str, size_bytes: int) -> ObjectInfo | None:
        """The newest version of ``key`` that our own upload of these bytes left behind.

        Matches on the ``sha256`` metadata and size; callers still ``verify`` it.
        """
        sha256 = sha256.lower()

        def matches(info: ObjectInfo | None) -> bool:
            return (
                info is not None
                and info.metadata.get(SHA256_META, "").lower() == sha256
                and info.size_bytes == size_bytes
            )

        latest = self.head(key)
        if latest is None:
            # Nothing under this key (the first upload, nearly always): no version listing.
            return None
        if matches(latest):
            return latest
        for version in self.iter_versions(key):
            if version.key != key or version.version_id == latest.version_id:
                continue
            info = self.head(key, version_id=version.version_id)
            if info is not None and matches(info):
                return info
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
        """Size and SHA-256 of the stored version; with ``retain_until`` and ``lock_mode``
        also its Object Lock, applied if the store dropped it (:meth:`ensure_retention`)."""
        sha256 = sha256.lower()
        where = f"s3://{self.bucket}/{key}" + (f" version {version_id}" if version_id else "")
        info = self.head(key, version_id=version_id)
        if info is None:
            raise ObjectStoreError(f"{where} is missing at {self.where}: upload it again")
        if retain_until is not None and lock_mode is not None:
            self.ensure_retention(
                key, info.version_id or version_id, retain_until, lock_mode, seen=info
            )
        if info.size_bytes != size_bytes:
            raise ChecksumMismatch(
                f"{where} has {info.size_bytes} bytes, expected {size_bytes}: upload it again"
            )
        if self.checksums_enabled and info.checksum_sha256:
            if not info.multipart:
                if info.checksum_sha256 != sha256_hex_to_b64(sha256):
                    raise ChecksumMismatch(
                        f"{where} has SHA-256 {b64_to_hex(info.checksum_sha256)}, "
                        f"expected {sha256}: upload it again"
                    )
                return VerifyResult(method="checksum", size_bytes=size_bytes, sha256=sha256)
            if self._composite_matches(info, sha256):
                return VerifyResult(method="checksum", size_bytes=size_bytes, sha256=sha256)
            log.info("s3 verify composite unmatched key=%s, re-reading", key)
        actual, size = self.reread_sha256(key, version_id=info.version_id or version_id)
        if size != size_bytes or actual != sha256:
            raise ChecksumMismatch(
                f"{where} reads back as {size} bytes with SHA-256 {actual}, "
                f"expected {size_bytes} bytes with {sha256}: upload it again"
            )
        return VerifyResult(method="reread", size_bytes=size, sha256=actual)

    @staticmethod
    def _composite_matches(info: ObjectInfo, sha256: str) -> bool:
        """The store's composite equals the one put_file computed from parts of these bytes."""
        recorded = info.metadata.get(PARTS_META)
        if not recorded or info.metadata.get(SHA256_META, "").lower() != sha256:
            return False
        stored_b64, stored_n = split_composite(info.checksum_sha256 or "")
        recorded_b64, recorded_n = split_composite(recorded)
        expected_n = etag_parts(info.etag) or stored_n
        return stored_b64 == recorded_b64 and expected_n in (None, recorded_n)

    def reread_sha256(self, key: str, *, version_id: str | None) -> tuple[str, int]:
        """Stream the object back and hash it: (hex SHA-256, size in bytes)."""
        digest, size = hashlib.sha256(), 0
        for chunk in self.iter_object(key, version_id=version_id):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size

    def iter_object(
        self, key: str, *, version_id: str | None, chunk_bytes: int = READ_CHUNK_BYTES
    ) -> Iterator[bytes]:
        """The object's bytes in chunks of at most ``chunk_bytes``: memory stays constant
        whatever the object's size."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            resp = self._client.get_object(**kwargs)
        except ClientError as exc:
            if error_code(exc) in MISSING_KEY_CODES:
                raise ObjectStoreError(
                    f"s3://{self.bucket}/{key} is missing at {self.where}: upload it again"
                ) from exc
            raise self.translate(exc, op="GetObject", key=key) from exc
        except BotoCoreError as exc:
            raise self.translate(exc, op="GetObject", key=key) from exc
        body = resp["Body"]
        try:
            with self._translated("GetObject", key=key):
                yield from body.iter_chunks(chunk_bytes)
        finally:
            body.close()

    def iter_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Latest versions under ``prefix``; listings carry no metadata or lock state."""
        paginator = self._client.get_paginator("list_objects_v2")
        with self._translated("ListObjectsV2", key=prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield _listed(item, version_id=None, is_latest=True)

    def list_keys(self, prefix: str) -> set[str]:
        """The keys under ``prefix`` that have a current object (what ``head`` would find):
        one ListObjectsV2 page per thousand keys, instead of a HeadObject per key."""
        paginator = self._client.get_paginator("list_objects_v2")
        keys: set[str] = set()
        with self._translated("ListObjectsV2", key=prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.update(item["Key"] for item in page.get("Contents", []))
        return keys

    def iter_versions(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every version under ``prefix``, newest first per key; delete markers are skipped."""
        paginator = self._client.get_paginator("list_object_versions")
        with self._translated("ListObjectVersions", key=prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Versions", []):
                    yield _listed(item, item.get("VersionId"), is_latest=item.get("IsLatest"))

    # --- lock and delete --------------------------------------------------------------------

    def set_legal_hold(self, key: str, *, version_id: str | None, on: bool) -> None:
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "LegalHold": {"Status": "ON" if on else "OFF"},
        }
        if version_id:
            kwargs["VersionId"] = version_id
        with self._translated("PutObjectLegalHold", key=key):
            self._client.put_object_legal_hold(**kwargs)
        log.info("s3 legal hold key=%s version_id=%s on=%s", key, version_id, on)

    def delete_version(
        self, key: str, *, version_id: str | None, bypass_governance: bool = False
    ) -> None:
        """Delete one version for good (without ``version_id``: a delete marker on versioned
        buckets). A lock refusal surfaces as ``LegalHoldActive``/``RetentionNotExpired``."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        if bypass_governance:
            kwargs["BypassGovernanceRetention"] = True
        try:
            self._client.delete_object(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "AccessDenied":
                self._raise_if_locked(key, version_id, exc)
            raise self.translate(exc, op="DeleteObject", key=key) from exc
        except BotoCoreError as exc:
            raise self.translate(exc, op="DeleteObject", key=key) from exc
        log.info("s3 deleted key=%s version_id=%s", key, version_id)

    def _raise_if_locked(self, key: str, version_id: str | None, exc: ClientError) -> None:
        info = self.head(key, version_id=version_id)
        if info is None:
            return
        where = f"s3://{self.bucket}/{key} version {info.version_id}"
        if info.legal_hold:
            raise LegalHoldActive(f"{where} is under legal hold: release the hold first") from exc
        if info.retain_until is not None and info.retain_until > datetime.now(UTC):
            raise RetentionNotExpired(
                f"{where} is retained ({info.lock_mode}) until {info.retain_until.isoformat()}"
            ) from exc

    # --- error translation ------------------------------------------------------------------

    def _translated(self, op: str, *, key: str | None = None) -> AbstractContextManager[None]:
        return translated(op, bucket=self.bucket, endpoint=self.where, key=key)

    def translate(self, exc: Exception, *, op: str, key: str | None = None) -> StorageError:
        """The ``models.errors`` exception for a botocore failure of ``op``."""
        return translate_error(exc, op=op, bucket=self.bucket, endpoint=self.where, key=key)
