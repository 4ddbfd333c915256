"""The download side of the Infobip client: the work file and one response body into it.

The work file is hashed as it grows, so a resume continues both the bytes and the SHA-256
without reading the file twice, and memory stays constant whatever the recording's size.

A resume asks for an overlap: ``Range: bytes=<size - overlap>-``. The first ``overlap`` bytes
of the answer are compared with the end of the work file rather than written; bytes that
differ mean the source changed its bytes between the two responses, so the stitched file
never existed at the source. ``storage.infobip.core.HttpCore.download`` drives the requests.
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
# Re-read before a resume offset and compared: a file smaller than this is checked whole.
RESUME_OVERLAP_BYTES = 1024 * 1024
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

    def tail(self, length: int) -> bytes:
        """The last ``length`` bytes written (at most RESUME_OVERLAP_BYTES, held in memory)."""
        try:
            self.file.seek(self.size - length)
            data = self.file.read(length)
            self.file.seek(self.size)
        except OSError as exc:
            raise WorkDirError(f"cannot read work file {self.dest}: {exc.strerror}") from exc
        return data

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
    network_bytes: int = 0  # bytes of this response read, the overlap included
    changed_at: int | None = None  # resume offset whose overlap differed from the file


class OverlapCheck:
    """Compares the first bytes of a resumed body with the end of the work file."""

    def __init__(self, expected: bytes, offset: int) -> None:
        self.expected = expected
        self.offset = offset  # the resume offset: where the compared bytes end
        self.seen = 0
        self.differs = False

    def consume(self, chunk: bytes) -> bytes:
        """Checks what of ``chunk`` falls in the overlap; returns the rest, to be written."""
        need = len(self.expected) - self.seen
        if need <= 0:
            return chunk
        head = chunk[:need]
        if head != self.expected[self.seen : self.seen + len(head)]:
            self.differs = True
        self.seen += len(head)
        return chunk[need:]

    @property
    def done(self) -> bool:
        return self.seen >= len(self.expected)


def stream_body(
    response: httpx.Response,
    work: WorkFile,
    *,
    where: str,
    expected_size_bytes: int | None,
    on_progress: Callable[[int], None] | None,
    overlap: int = 0,
) -> BodyResult:
    """Write one 200/206 body into ``work``; raise DownloadIntegrityError on inconsistency.

    ``overlap``: the request asked for that many bytes before the end of ``work``; a 206 that
    starts there has them compared, not written (``BodyResult.changed_at`` when they differ).
    """
    check: OverlapCheck | None = None
    if response.status_code == 206:
        start, _end, full = content_range(response)
        if start != work.size - overlap:
            raise DownloadIntegrityError(
                f"{where}: asked for bytes from {work.size - overlap}, "
                f"Content-Range starts at {start}",
                status_code=206,
            )
        if overlap:
            check = OverlapCheck(work.tail(overlap), work.size)
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
    received = network = 0
    try:
        # No chunk_size: a re-chunking buffer would lose its tail when the connection drops.
        for chunk in response.iter_bytes():
            network += len(chunk)
            if check is not None:
                chunk = check.consume(chunk)
                if not chunk:
                    continue
            work.write(chunk)
            received += len(chunk)
            if on_progress is not None:
                on_progress(work.size)
    except httpx.TransportError as exc:
        error = SourceUnavailable(
            f"{where}: connection dropped after {network} bytes ({type(exc).__name__})"
        )
        error.__cause__ = exc
        return BodyResult(received, error, True, network, _changed(check))
    if length is not None and network > length:
        raise DownloadIntegrityError(
            f"{where}: body of {network} bytes exceeds Content-Length {length}"
        )
    if check is not None and not check.done:
        # The overlap itself ended early: nothing new, nothing proven; resume again.
        short = DownloadIntegrityError(f"{where}: body ended inside the resume overlap")
        return BodyResult(received, short, False, network, _changed(check))
    target = expected_size_bytes if expected_size_bytes is not None else full
    if target is not None and work.size > target:
        raise DownloadIntegrityError(f"{where}: received {work.size} bytes, expected {target}")
    if (length is not None and network < length) or (target is not None and work.size < target):
        of = f" of {target}" if target is not None else ""
        short = DownloadIntegrityError(f"{where}: body ended early at {work.size} bytes{of}")
        return BodyResult(received, short, False, network, _changed(check))
    return BodyResult(received, None, False, network, _changed(check))


def _changed(check: OverlapCheck | None) -> int | None:
    return check.offset if check is not None and check.differs else None
