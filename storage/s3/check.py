"""Bucket self-check: what the archive bucket offers, probed rather than assumed.

S3-compatible stores implement different subsets of AWS S3, so each feature is asked for
separately and "not implemented" counts as "absent", never as a crash. SHA-256 checksum
support is probed by uploading a tiny object under ``.recvault-selfcheck/`` with an explicit
checksum and reading the checksum back.

What remains after a check: nothing on most buckets (the probe version is deleted). On a
bucket whose Object Lock default retention locks every new object, the probe cannot be
deleted; the check then reuses an existing probe object instead of writing another, so at
most one 31-byte probe stays until that retention expires. With ``RECVAULT_S3_CHECKSUM=off``
nothing is written at all.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from models.errors import StorageError
from storage.s3.objects import ObjectInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class CheckedStore(Protocol):
    """What the check needs of ``ObjectStore`` (kept apart so neither module imports the other)."""

    bucket: str

    @property
    def checksum_mode(self) -> str: ...
    @property
    def sse(self) -> str: ...

    @property
    def client(self) -> S3Client: ...
    @property
    def where(self) -> str: ...
    @property
    def checksums_enabled(self) -> bool: ...
    def translate(self, exc: Exception, *, op: str, key: str | None = None) -> StorageError: ...
    def head_object(
        self, key: str, *, version_id: str | None, checksum: bool
    ) -> ObjectInfo | None: ...
    def sse_args(self) -> dict[str, Any]: ...


log = logging.getLogger(__name__)

PROBE_KEY = ".recvault-selfcheck/sha256-probe"
PROBE_BODY = b"recvault sha256 checksum probe\n"
PROBE_SHA256_B64 = base64.b64encode(hashlib.sha256(PROBE_BODY).digest()).decode("ascii")
_PROBE_MD5_B64 = base64.b64encode(hashlib.md5(PROBE_BODY, usedforsecurity=False).digest()).decode(
    "ascii"
)

# Codes meaning "this bucket does not have the feature" (or the store does not know it).
_LOCK_ABSENT = {"ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"}
_ENCRYPTION_ABSENT = {"ServerSideEncryptionConfigurationNotFoundError", "NoSuchEncryption"}
_UNSUPPORTED = {"NotImplemented", "MethodNotAllowed", "UnsupportedOperation"}
_PROBE_REJECTED = {"InvalidArgument", "InvalidRequest", "InvalidDigest", "BadDigest"}

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class BucketReport:
    bucket: str
    endpoint: str
    exists: bool
    versioning: str | None  # "Enabled", "Suspended", or None when never enabled
    object_lock: bool
    default_retention: str | None  # e.g. "COMPLIANCE 30 days"
    encryption: str | None  # the bucket's default encryption, None when absent
    sha256_checksums: bool  # probed: the store stored and returned our SHA-256
    problems: list[str] = field(default_factory=list)  # each one blocks ensure_usable
    checksum_mode: str = "auto"
    checksums_used: bool = False  # whether uploads and verification use SHA-256 checksums
    checksum_probe: str = "not probed"
    upload_sse: str = "AES256"
    require_object_lock: bool = False
    require_versioning: bool = False
    notes: list[str] = field(default_factory=list)  # warnings that do not block

    def rows(self) -> list[tuple[str, str, str]]:
        """(check, value, ok/warn/fail) for a one-screen table."""

        def need(present: bool, required: bool) -> str:
            return OK if present else FAIL if required else WARN

        if self.sha256_checksums:
            checksum_status = OK if self.checksums_used else WARN
        elif self.checksum_mode == "sha256":
            checksum_status = FAIL
        else:
            checksum_status = WARN
        usage = "verify reads back each object" if not self.checksums_used else "used"
        encrypted = self.encryption is not None or self.upload_sse != "none"
        return [
            ("bucket", f"{self.bucket} at {self.endpoint}", OK if self.exists else FAIL),
            (
                "versioning",
                self.versioning or "never enabled",
                need(self.versioning == "Enabled", self.require_versioning),
            ),
            (
                "object lock",
                "enabled" if self.object_lock else "disabled",
                need(self.object_lock, self.require_object_lock),
            ),
            ("default retention", self.default_retention or "none", OK),
            (
                "encryption",
                f"bucket default {self.encryption or 'none'}, uploads send {self.upload_sse}",
                OK if encrypted else WARN,
            ),
            (
                "sha256 checksums",
                f"{self.checksum_probe} (mode {self.checksum_mode}: {usage})",
                checksum_status,
            ),
        ]


def run_bucket_check(
    store: CheckedStore, *, require_object_lock: bool, require_versioning: bool
) -> BucketReport:
    """Raises ``BucketNotFound`` for a missing bucket, other ``StorageError``s when unreachable."""
    client, bucket = store.client, store.bucket
    notes: list[str] = []
    try:
        client.head_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError) as exc:
        raise store.translate(exc, op="HeadBucket") from exc

    versioning = _optional(store, "GetBucketVersioning", set(), notes)
    status = versioning.get("Status") if versioning else None

    lock = _optional(store, "GetObjectLockConfiguration", _LOCK_ABSENT, notes)
    lock_config = lock.get("ObjectLockConfiguration", {}) if lock else {}
    object_lock = lock_config.get("ObjectLockEnabled") == "Enabled"
    default_retention = _describe_retention(lock_config.get("Rule", {}).get("DefaultRetention"))

    encryption = _describe_encryption(
        _optional(store, "GetBucketEncryption", _ENCRYPTION_ABSENT, notes)
    )

    if store.checksum_mode == "off":
        supported, probe_text = False, "not probed (RECVAULT_S3_CHECKSUM=off)"
    else:
        supported, probe_text = _probe_sha256(
            store, locked=default_retention is not None, notes=notes
        )

    problems: list[str] = []
    if require_versioning and status != "Enabled":
        problems.append(
            f"versioning is {status or 'off'}: enable it with `aws s3api put-bucket-versioning "
            f"--bucket {bucket} --versioning-configuration Status=Enabled`"
        )
    if require_object_lock and not object_lock:
        problems.append(
            "Object Lock is not enabled: enable it with `aws s3api put-object-lock-configuration "
            f"--bucket {bucket} --object-lock-configuration ObjectLockEnabled=Enabled` "
            "(needs versioning; some stores allow it only at bucket creation)"
        )
    if store.checksum_mode == "sha256" and not supported:
        problems.append(
            f"the store does not keep SHA-256 checksums ({probe_text}): "
            "set RECVAULT_S3_CHECKSUM=auto or off (verification then reads objects back)"
        )
    if supported and not store.checksums_enabled:
        notes.append(
            "the store keeps SHA-256 checksums: RECVAULT_S3_CHECKSUM=sha256 verifies "
            "without reading objects back"
        )
    report = BucketReport(
        bucket=bucket,
        endpoint=store.where,
        exists=True,
        versioning=status,
        object_lock=object_lock,
        default_retention=default_retention,
        encryption=encryption,
        sha256_checksums=supported,
        problems=problems,
        checksum_mode=store.checksum_mode,
        checksums_used=store.checksums_enabled,
        checksum_probe=probe_text,
        upload_sse=store.sse,
        require_object_lock=require_object_lock,
        require_versioning=require_versioning,
        notes=notes,
    )
    log.info(
        "s3 bucket check bucket=%s versioning=%s object_lock=%s retention=%s encryption=%s "
        "sha256=%s problems=%d",
        bucket,
        status,
        object_lock,
        default_retention,
        encryption,
        supported,
        len(problems),
    )
    return report


def object_lock_status(store: CheckedStore) -> bool | None:
    """Whether the bucket has Object Lock, from one GetObjectLockConfiguration; None when the
    store would not say (unsupported or denied)."""
    notes: list[str] = []
    lock = _optional(store, "GetObjectLockConfiguration", _LOCK_ABSENT, notes)
    if lock is None:
        return None if notes else False
    return bool(lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled")


def _optional(store: CheckedStore, op: str, absent: set[str], notes: list[str]) -> Any:
    """Call a bucket-configuration getter; None when the bucket or store lacks the feature."""
    method = {
        "GetBucketVersioning": store.client.get_bucket_versioning,
        "GetObjectLockConfiguration": store.client.get_object_lock_configuration,
        "GetBucketEncryption": store.client.get_bucket_encryption,
    }[op]
    try:
        return method(Bucket=store.bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in absent:
            return None
        if code in _UNSUPPORTED or status in (405, 501):
            notes.append(f"{op} is not supported by {store.where}")
            return None
        if code == "AccessDenied" or status == 403:
            notes.append(f"{op} was denied: the report cannot tell whether this is set")
            return None
        raise store.translate(exc, op=op) from exc
    except BotoCoreError as exc:
        raise store.translate(exc, op=op) from exc


def _describe_retention(rule: dict[str, Any] | None) -> str | None:
    if not rule or not rule.get("Mode"):
        return None
    # Some stores send both fields with the unused one as 0.
    count, unit = (rule["Years"], "year") if rule.get("Years") else (rule.get("Days", 0), "day")
    return f"{rule['Mode']} {count} {unit}{'' if count == 1 else 's'}"


def _describe_encryption(resp: Any) -> str | None:
    if not resp:
        return None
    rules = resp.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    for rule in rules:
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        algorithm = default.get("SSEAlgorithm")
        if algorithm:
            key = default.get("KMSMasterKeyID")
            return f"{algorithm} ({key})" if key else str(algorithm)
    return None


def _probe_sha256(store: CheckedStore, *, locked: bool, notes: list[str]) -> tuple[bool, str]:
    """Does the store keep the SHA-256 we send and give it back? (supported, description)."""
    if locked:
        # Every new object is locked by default retention: reuse the probe an earlier check
        # left behind rather than stack another undeletable one.
        earlier = store.head_object(PROBE_KEY, version_id=None, checksum=True)
        if earlier is not None and earlier.size_bytes == len(PROBE_BODY):
            return _judge(earlier.checksum_sha256, "earlier probe object")
    args: dict[str, Any] = {
        "Bucket": store.bucket,
        "Key": PROBE_KEY,
        "Body": PROBE_BODY,
        "ContentMD5": _PROBE_MD5_B64,
        "ChecksumAlgorithm": "SHA256",
        "ChecksumSHA256": PROBE_SHA256_B64,
        **store.sse_args(),
    }
    try:
        put = store.client.put_object(**args)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _UNSUPPORTED | _PROBE_REJECTED or status in (400, 501):
            return False, f"rejected by the store ({code})"
        if code == "AccessDenied" or status == 403:
            return False, f"not probed: writing {PROBE_KEY} was denied"
        raise store.translate(exc, op="PutObject", key=PROBE_KEY) from exc
    except BotoCoreError as exc:
        raise store.translate(exc, op="PutObject", key=PROBE_KEY) from exc
    version_id = put.get("VersionId")
    try:
        info = store.head_object(PROBE_KEY, version_id=version_id, checksum=True)
        return _judge(info.checksum_sha256 if info else None, "probe object")
    finally:
        _delete_probe(store, version_id, notes)


def _judge(checksum: str | None, source: str) -> tuple[bool, str]:
    if checksum is None:
        return False, f"not returned for the {source}"
    if checksum != PROBE_SHA256_B64:
        return False, f"wrong value returned for the {source}"
    return True, "supported"


def _delete_probe(store: CheckedStore, version_id: str | None, notes: list[str]) -> None:
    args: dict[str, Any] = {"Bucket": store.bucket, "Key": PROBE_KEY}
    if version_id:
        args["VersionId"] = version_id
    try:
        store.client.delete_object(**args)
    except (ClientError, BotoCoreError) as exc:
        # Default retention locks the probe too; it is reused by the next check.
        notes.append(f"probe object {PROBE_KEY} stays until the bucket's retention ends")
        log.info("s3 probe kept key=%s version_id=%s reason=%s", PROBE_KEY, version_id, exc)
