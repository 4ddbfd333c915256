"""Scratch space for downloads and derivatives: one folder per recording.

Files are written under temporary names by their producers and renamed when complete, so what a
crash leaves behind is either a partial download (resumed by the next attempt) or nothing.

Space: the work dir never grows past ``max_bytes``. A file being written holds an allowance
(``grow``): the size it may reach. Usage counts every file on disk, and for a file with an
allowance the larger of the two, so concurrent writers can never together overshoot; a writer
asks for more room before it writes past its allowance (``GrowthGuard``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from pathlib import Path

from models.errors import WorkDirError

log = logging.getLogger(__name__)

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class WorkDir:
    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._reserved = 0
        self._allowances: dict[Path, int] = {}
        self._lock = threading.Lock()

    def prepare(self) -> None:
        """Create the folder and prove it is writable, with a message that says how to fix it."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-probe"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise WorkDirError(
                f"work dir {self.root} is not writable ({exc.strerror or exc}): "
                "set RECVAULT_WORK_DIR to a writable folder"
            ) from None

    def folder(self, recording_id: str) -> Path:
        if not recording_id or not set(recording_id) <= _SAFE or recording_id in (".", ".."):
            raise WorkDirError(f"recording id {recording_id!r} cannot name a work folder")
        path = self.root / recording_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def used_bytes(self) -> int:
        """Bytes on disk, counting a file with an allowance at the larger of the two."""
        total = 0
        allowed = dict(self._allowances)
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                path = Path(dirpath) / name
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    continue
                total += max(size, allowed.pop(path, 0))
        return total + sum(allowed.values())

    def grow(self, path: Path, upto_bytes: int) -> None:
        """Let ``path`` (under the work dir) grow to ``upto_bytes``, or raise WorkDirError."""
        with self._lock:
            current = self._allowances.get(path, 0)
            if upto_bytes <= current:
                return
            try:
                on_disk = path.stat().st_size
            except FileNotFoundError:
                on_disk = 0
            extra = upto_bytes - max(current, on_disk)
            used = self.used_bytes() + self._reserved
            if extra > 0 and used + extra > self.max_bytes:
                raise WorkDirError(
                    f"work dir {self.root} is full: its limit is {self.max_bytes} bytes and "
                    f"{used} are in use: raise RECVAULT_WORK_DIR_MAX_BYTES, lower "
                    "RECVAULT_CONCURRENCY or free the space"
                )
            # Granted but not yet on disk (writes are buffered) is as good as taken.
            free = shutil.disk_usage(self.root).free - self._unwritten()
            if extra > 0 and extra > free:
                raise WorkDirError(
                    f"work dir {self.root} has {max(free, 0)} bytes free, {extra} more needed: "
                    "free disk space or point RECVAULT_WORK_DIR elsewhere"
                )
            self._allowances[path] = upto_bytes

    def _unwritten(self) -> int:
        total = 0
        for path, allowed in self._allowances.items():
            try:
                total += max(0, allowed - path.stat().st_size)
            except FileNotFoundError:
                total += allowed
        return total

    def forget(self, path: Path) -> None:
        """The file is complete (or gone): from now on only its size on disk counts."""
        with self._lock:
            self._allowances.pop(path, None)

    def guard(self, path: Path) -> GrowthGuard:
        return GrowthGuard(self, path)

    def reserve(self, size_bytes: int) -> None:
        """Account for a file about to be written; refuse when the limit or the disk would overflow.

        Reservations of concurrent workers add up, so parallel downloads cannot together exceed
        the limit. Call ``release`` when the file is gone.
        """
        with self._lock:
            used = self.used_bytes() + self._reserved
            if used + size_bytes > self.max_bytes:
                raise WorkDirError(
                    f"work dir {self.root} would exceed its limit of {self.max_bytes} bytes "
                    f"({used} in use, {size_bytes} needed): raise RECVAULT_WORK_DIR_MAX_BYTES "
                    "or lower RECVAULT_CONCURRENCY"
                )
            free = shutil.disk_usage(self.root).free
            if size_bytes > free:
                raise WorkDirError(
                    f"work dir {self.root} has {free} bytes free, {size_bytes} needed: "
                    "free disk space or point RECVAULT_WORK_DIR elsewhere"
                )
            self._reserved += size_bytes

    def release(self, size_bytes: int) -> None:
        with self._lock:
            self._reserved = max(0, self._reserved - size_bytes)

    def clean(self, recording_id: str) -> None:
        path = self.root / recording_id
        if path.parent == self.root and path.exists():
            shutil.rmtree(path, ignore_errors=True)
            log.debug("work folder removed recording_id=%s", recording_id)

    def tidy(self, recording_id: str) -> None:
        """Remove the recording's folder if nothing is in it (a deferred attempt made it)."""
        path = self.root / recording_id
        if path.parent == self.root:
            with contextlib.suppress(OSError):
                path.rmdir()  # fails, as wanted, when a partial download is inside

    def folders(self) -> list[str]:
        """Recording ids that have a folder here (for sweeping what finished runs left)."""
        try:
            return sorted(p.name for p in self.root.iterdir() if p.is_dir())
        except FileNotFoundError:
            return []


class GrowthGuard:
    """``on_progress`` callback for a file being written: asks for room ahead of the writes.

    A download calls it with the file's size after each network read; reads are at most
    ``MAX_WRITE_BYTES`` (httpcore reads 64 KiB), so keeping that much allowance ahead means no
    write ever lands in space that was not granted.
    """

    MAX_WRITE_BYTES = 64 * 1024

    def __init__(self, workdir: WorkDir, path: Path) -> None:
        self.workdir = workdir
        self.path = path
        # Ask in steps, so a large file does not walk the work dir once per network read.
        self.step = max(4 * self.MAX_WRITE_BYTES, min(64 * 1024 * 1024, workdir.max_bytes // 16))
        self.allowed = 0

    def __call__(self, size_bytes: int) -> None:
        if size_bytes + self.MAX_WRITE_BYTES <= self.allowed:
            return
        try:
            self.workdir.grow(self.path, size_bytes + self.step)
            self.allowed = size_bytes + self.step
        except WorkDirError:
            # Nearly full: a smaller file may still fit, so ask only for the next read.
            self.workdir.grow(self.path, size_bytes + self.MAX_WRITE_BYTES)
            self.allowed = size_bytes + self.MAX_WRITE_BYTES

    def start(self) -> None:
        """Before the first write: room for what is there already plus the next read."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        self(size)

    def done(self) -> None:
        self.workdir.forget(self.path)
