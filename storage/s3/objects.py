"""Value types of the archive store: what an object is, how it was verified, which modes exist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ChecksumMode = Literal["auto", "sha256", "off"]
SseMode = Literal["AES256", "aws:kms", "none"]
LockMode = Literal["GOVERNANCE", "COMPLIANCE"]


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    version_id: str | None
    size_bytes: int
    sha256: str | None  # hex: our metadata, or a full-object checksum
    checksum_sha256: str | None  # as S3 returns it; a composite for multipart objects
    metadata: dict[str, str]
    retain_until: datetime | None
    lock_mode: str | None
    legal_hold: bool | None  # None: the store did not say
    last_modified: datetime | None
    is_latest: bool | None
    etag: str | None = None
    multipart: bool = False


@dataclass(frozen=True)
class VerifyResult:
    method: Literal["checksum", "reread"]
    size_bytes: int
    sha256: str
