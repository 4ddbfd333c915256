"""Scratch space for downloads and derivatives: one folder per recording.

Files are written under temporary names by their producers and renamed when complete, so what a
crash leaves behind is either a partial download (resumed by the next attempt) or nothing.
"""

from __future__ import annotations

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
        total = 0
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                try:
                    total += (Path(dirpath) / name).stat().st_size
                except FileNotFoundError:
                    continue
        return total

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
