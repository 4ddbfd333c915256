"""The download side of the Infobip client: the work file and one response body into it.

The work file is hashed as it grows, so a resume (``Range: bytes=<size>-``) continues both
the bytes and the SHA-256 without reading the file twice, and memory stays constant whatever
the recording's size. ``storage.infobip.client.InfobipClient.download`` drives the requests.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from models.errors import (
    DownloadIntegrityError,
    SourceError,
    SourceServerError,
    SourceUnavailable,
    WorkDirError,
)

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)


class WorkFile:
    """The download target; opening it hashes whatever an earlier attempt left there."""

    def __init__(self, dest: Path, expected_size_bytes: int | None) -> None:
        self.dest = dest
        self.hasher = hashlib.sha256()
        self.size = 0
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            # Writes reach the disk in CHUNK_BYTES blocks whatever size the network reads have.
            mode = "r+b" if dest.exists() else "w+b"
            self.file: IO[bytes] = open(dest, mode, buffering=CHUNK_BYTES)  # noqa: SIM115
            while chunk := self.file.read(CHUNK_BYTES):
                self.hasher.update(chunk)
                self.size += len(chunk)
        except OSError as exc:
            raise WorkDirError(f"cannot open work file {dest}: {exc.strerror}") from exc
        if expected_size_bytes is not None and self.size > expected_size_bytes:
            self.truncate()

    def write(self, chunk: bytes) -> None:
        try:
            self.file.write(chunk)
        except OSError as exc:
            raise WorkDirError(f"cannot write work file {self.dest}: {exc.strerror}") from exc
        self.hasher.update(chunk)
        self.size += len(chunk)

    def truncate(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.hasher = hashlib.sha256()
        self.size = 0

    def finish(self) -> None:
        """Flush and fsync: a DOWNLOADED state must never point at bytes still in a cache."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
        except OSError as exc:
            raise WorkDirError(f"cannot sync work file {self.dest}: {exc.strerror}") from exc

    def close(self) -> None:
        self.file.close()


def content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value is not None and value.strip().isdigit() else None


def content_range(response: httpx.Response) -> tuple[int | None, int | None, int | None]:
    """``(start, end, total)`` of ``Content-Range``; None where absent or ``*``."""
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if match is None:
        return None, None, None
    start, end, total = match.groups()
    return (
        int(start) if start else None,
        int(end) if end else None,
        int(total) if total and total != "*" else None,
    )


@dataclass(frozen=True)
class BodyResult:
    received: int  # bytes of this response written to the file
    incomplete: SourceError | None  # None: the file is complete; otherwise resume after it
    dropped: bool  # the connection failed mid-body


def stream_body(
    response: httpx.Response,
    work: WorkFile,
    *,
    where: str,
    expected_size_bytes: int | None,
    on_progress: Callable[[int], None] | None,
) -> BodyResult:
    """Write one 200/206 body into ``work``; raise DownloadIntegrityError on inconsistency."""
    if response.status_code == 206:
        start, _end, full = content_range(response)
        if start != work.size:
            raise DownloadIntegrityError(
                f"{where}: asked for bytes from {work.size}, Content-Range starts at {start}",
                status_code=206,
            )
    elif response.status_code == 200:
        if work.size > 0:
            log.info("infobip range ignored, restarting from 0 where=%s", where)
            work.truncate()
        full = content_length(response)
    else:
        raise SourceServerError(
            f"{where}: unexpected HTTP {response.status_code} for a download",
            status_code=response.status_code,
        )
    if expected_size_bytes is not None and full is not None and full != expected_size_bytes:
        raise DownloadIntegrityError(
            f"{where}: source reports {full} bytes, expected {expected_size_bytes}"
        )
    length = content_length(response)
    received = 0
    try:
        # No chunk_size: a re-chunking buffer would lose its tail when the connection drops.
        for chunk in response.iter_bytes():
            work.write(chunk)
            received += len(chunk)
            if on_progress is not None:
                on_progress(work.size)
    except httpx.TransportError as exc:
        error = SourceUnavailable(
            f"{where}: connection dropped after {received} bytes ({type(exc).__name__})"
        )
        error.__cause__ = exc
        return BodyResult(received, error, dropped=True)
    if length is not None and received > length:
        raise DownloadIntegrityError(
            f"{where}: body of {received} bytes exceeds Content-Length {length}"
        )
    target = expected_size_bytes if expected_size_bytes is not None else full
    if target is not None and work.size > target:
        raise DownloadIntegrityError(f"{where}: received {work.size} bytes, expected {target}")
    if (length is not None and received < length) or (target is not None and work.size < target):
        of = f" of {target}" if target is not None else ""
        short = DownloadIntegrityError(f"{where}: body ended early at {work.size} bytes{of}")
        return BodyResult(received, short, dropped=False)
    return BodyResult(received, None, dropped=False)
