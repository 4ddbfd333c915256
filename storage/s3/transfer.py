"""Moving bytes between a local file and S3 with constant memory.

A file is hashed in one pass before it is sent (whole-file SHA-256, and per part SHA-256 and
MD5 for multipart), then streamed from disk: a part is a seekable window on the file, never a
buffer. Every request carries Content-MD5 (all stores check it, Object Lock requires it) and,
when checksums are on, an explicit SHA-256 header rather than a botocore trailer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from models.errors import WorkDirError
from storage.s3.client import one_line, translated

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MIN_PART_BYTES = 5 * MiB
MAX_PARTS = 10_000
READ_CHUNK_BYTES = 1 * MiB


@dataclass(frozen=True)
class PutResult:
    key: str
    version_id: str | None
    size_bytes: int
    checksum_sha256: str | None
    multipart: bool
    parts: int


@dataclass(frozen=True)
class Part:
    number: int
    offset: int
    length: int
    sha256_b64: str
    md5_b64: str


@dataclass(frozen=True)
class FileDigest:
    sha256_hex: str
    size_bytes: int
    md5_b64: str  # whole file; empty for multipart, where each part has its own
    parts: list[Part] = field(default_factory=list)

    @property
    def composite_b64(self) -> str:
        """What S3 computes for a multipart SHA-256 object: the hash of the part digests."""
        joined = b"".join(base64.b64decode(p.sha256_b64) for p in self.parts)
        return f"{b64(hashlib.sha256(joined).digest())}-{len(self.parts)}"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def sha256_hex_to_b64(sha256_hex: str) -> str:
    """The form S3 uses for ``ChecksumSHA256``."""
    return b64(bytes.fromhex(sha256_hex))


def b64_to_hex(value: str) -> str | None:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def split_composite(value: str) -> tuple[str, int | None]:
    """``"abc=-3"`` → ``("abc=", 3)``; AWS appends the part count, some stores do not."""
    head, sep, tail = value.rpartition("-")
    if sep and tail.isdigit():
        return head, int(tail)
    return value, None


def etag_parts(etag: str | None) -> int | None:
    """The part count in a multipart ETag (``"…-3"``), None for a single-part object."""
    if not etag:
        return None
    _, sep, tail = etag.strip('"').rpartition("-")
    return int(tail) if sep and tail.isdigit() else None


def part_size_for(size: int, preferred: int) -> int:
    """``preferred``, grown in whole MiB when the file would need more than 10,000 parts."""
    needed = math.ceil(size / MAX_PARTS)
    return max(preferred, math.ceil(needed / MiB) * MiB)


def hash_file(path: Path, part_size: int | None) -> FileDigest:
    """One pass over the file: SHA-256 and MD5 of the whole, or of each part when multipart."""
    full = hashlib.sha256()
    whole_md5 = hashlib.md5(usedforsecurity=False)
    parts: list[Part] = []
    total = 0
    with path.open("rb") as handle:
        if part_size is None:
            for chunk in iter(lambda: handle.read(READ_CHUNK_BYTES), b""):
                full.update(chunk)
                whole_md5.update(chunk)
                total += len(chunk)
            return FileDigest(full.hexdigest(), total, b64(whole_md5.digest()))
        while True:
            part_sha, part_md5, length = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
            while length < part_size:
                chunk = handle.read(min(READ_CHUNK_BYTES, part_size - length))
                if not chunk:
                    break
                full.update(chunk)
                part_sha.update(chunk)
                part_md5.update(chunk)
                length += len(chunk)
            if length:
                digests = b64(part_sha.digest()), b64(part_md5.digest())
                parts.append(Part(len(parts) + 1, total, length, *digests))
                total += length
            if length < part_size:
                break
    return FileDigest(full.hexdigest(), total, "", parts)


class FileSlice(io.RawIOBase):
    """A seekable read-only window on a file, so a part streams from disk.

    It has no ``fileno`` on purpose: botocore and http.client must not see the whole file.
    """

    def __init__(self, path: Path, offset: int, length: int) -> None:
        super().__init__()
        self._file = path.open("rb")
        self._offset = offset
        self._length = length
        self._pos = 0
        self._file.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, min(self._length, base + pos))
        self._file.seek(self._offset + self._pos)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        remaining = self._length - self._pos
        want = remaining if size is None or size < 0 else min(size, remaining)
        data = self._file.read(want) if want > 0 else b""
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


class _Skipped(Exception):
    """A part not sent because an earlier one failed."""


@dataclass(frozen=True)
class Uploader:
    """Sends one hashed file; ``common`` holds Bucket, Key, Metadata, SSE and lock arguments."""

    client: S3Client
    bucket: str
    endpoint: str
    checksums: bool
    max_concurrency: int

    def upload(self, key: str, path: Path, digest: FileDigest, common: dict[str, Any]) -> PutResult:
        try:
            if digest.parts:
                return self._multipart(key, path, digest, common)
            return self._single(key, path, digest, common)
        except OSError as exc:
            raise WorkDirError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def _translated(self, op: str, key: str) -> Any:
        return translated(op, bucket=self.bucket, endpoint=self.endpoint, key=key)

    def _single(
        self, key: str, path: Path, digest: FileDigest, common: dict[str, Any]
    ) -> PutResult:
        extra: dict[str, Any] = {"ContentLength": digest.size_bytes, "ContentMD5": digest.md5_b64}
        if self.checksums:
            extra["ChecksumAlgorithm"] = "SHA256"
            extra["ChecksumSHA256"] = sha256_hex_to_b64(digest.sha256_hex)
        with path.open("rb") as body, self._translated("PutObject", key):
            resp = self.client.put_object(Body=body, **common, **extra)
        return PutResult(
            key=key,
            version_id=resp.get("VersionId"),
            size_bytes=digest.size_bytes,
            checksum_sha256=resp.get("ChecksumSHA256"),
            multipart=False,
            parts=1,
        )

    def _multipart(
        self, key: str, path: Path, digest: FileDigest, common: dict[str, Any]
    ) -> PutResult:
        create_extra: dict[str, Any] = {}
        if self.checksums:
            create_extra["ChecksumAlgorithm"] = "SHA256"
        with self._translated("CreateMultipartUpload", key):
            upload_id = self.client.create_multipart_upload(**common, **create_extra)["UploadId"]
        try:
            etags = self._parts(key, path, upload_id, digest.parts)
            completed: list[dict[str, Any]] = []
            for part, etag in zip(digest.parts, etags, strict=True):
                entry: dict[str, Any] = {"PartNumber": part.number, "ETag": etag}
                if self.checksums:
                    entry["ChecksumSHA256"] = part.sha256_b64
                completed.append(entry)
            with self._translated("CompleteMultipartUpload", key):
                resp = self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": completed},  # type: ignore[typeddict-item]
                )
        except BaseException:
            self._abort(key, upload_id)
            raise
        return PutResult(
            key=key,
            version_id=resp.get("VersionId"),
            size_bytes=digest.size_bytes,
            checksum_sha256=resp.get("ChecksumSHA256"),
            multipart=True,
            parts=len(digest.parts),
        )

    def _parts(self, key: str, path: Path, upload_id: str, parts: list[Part]) -> list[str]:
        failed = threading.Event()

        def send(part: Part) -> str:
            if failed.is_set():
                raise _Skipped  # another part failed: the upload is about to be aborted
            try:
                return self._part(key, path, upload_id, part)
            except BaseException:
                failed.set()
                raise

        pool = ThreadPoolExecutor(
            max_workers=min(self.max_concurrency, len(parts)), thread_name_prefix="s3-part"
        )
        try:
            futures: list[Future[str]] = [pool.submit(send, part) for part in parts]
            for future in futures:
                error = future.exception()
                if error is not None and not isinstance(error, _Skipped):
                    raise error
            return [f.result() for f in futures]
        finally:
            # Wait for in-flight parts so the abort that follows leaves no orphan part.
            pool.shutdown(wait=True, cancel_futures=True)

    def _part(self, key: str, path: Path, upload_id: str, part: Part) -> str:
        extra: dict[str, Any] = {"ContentMD5": part.md5_b64}
        if self.checksums:
            extra["ChecksumAlgorithm"] = "SHA256"
            extra["ChecksumSHA256"] = part.sha256_b64
        with (
            FileSlice(path, part.offset, part.length) as body,
            self._translated("UploadPart", key),
        ):
            resp = self.client.upload_part(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=part.number,
                Body=cast("IO[bytes]", body),
                ContentLength=part.length,
                **extra,
            )
        return resp["ETag"]

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            log.warning("s3 multipart aborted key=%s upload_id=%s", key, upload_id)
        except (ClientError, BotoCoreError) as exc:
            # The original failure matters more; a lifecycle rule reaps what is left.
            log.error(
                "s3 multipart abort failed key=%s upload_id=%s error=%s",
                key,
                upload_id,
                one_line(exc),
            )
