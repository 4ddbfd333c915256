"""``FakeSource``: an in-memory ``RecordingSource`` with scripted readiness and downloads.

Each recording the source holds has bytes and two scripts, both consumed one call at a time:

- ``readiness``: the answers of ``readiness()`` in order (the last one repeats); a recording
  without a script is READY (an audio recording whose status is final).
- ``downloads``: what each ``download()`` call does (``Serve``): which bytes it serves, whether
  it fails (with the real error types: ``RecordingNotReady``, ``SourceNotFound``,
  ``SourceUnavailable``...) and how many bytes it leaves behind first. Once the script is used
  up, every call serves the recording's current bytes.

Downloads behave like ``InfobipClient.download``: bytes go to ``dest``, a partial file already
there is resumed (counted in ``Download.resumes``), ``on_progress`` gets the file's size after
every chunk, and the returned SHA-256 is that of the whole file, so bytes that change between a
partial download and its resumption give a stitched file that never existed at the source;
like the client, a resume compares the bytes before its offset and reports where they differ
(``Download.changed_at_resume``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from models.errors import SourceError, SourceNotFound
from models.ports import (
    DeletionReceipt,
    Download,
    Readiness,
    ReadinessReport,
    SourceRecording,
)
from models.tables import Recording
from storage.infobip.download import RESUME_OVERLAP_BYTES

CHUNK_BYTES = 16 * 1024
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Serve:
    """One ``download()`` call: serve ``data`` (default: the recording's current bytes),
    reporting ``resumes`` continuations; or, with ``fail``, write ``partial_bytes`` of them
    into the file (kept for the next call to resume) and raise ``fail``."""

    data: bytes | None = None
    fail: SourceError | None = None
    partial_bytes: int = 0
    resumes: int = 0


@dataclass
class Held:
    """One recording at the fake source."""

    listing: SourceRecording
    data: bytes
    readiness: list[ReadinessReport] = field(default_factory=list)
    downloads: list[Serve] = field(default_factory=list)
    deleted: bool = False


def ready(*, preparation: str | None = None) -> ReadinessReport:
    return ReadinessReport(Readiness.READY, status="SUCCESSFUL", preparation=preparation)


def preparing() -> ReadinessReport:
    return ReadinessReport(
        Readiness.PREPARING, "video preparation in progress", preparation="IN_PROGRESS"
    )


def waiting(status: str = "IN_PROGRESS") -> ReadinessReport:
    return ReadinessReport(Readiness.WAITING, f"source status {status}", status=status)


def failed(reason: str = "video preparation failed", *, retryable: bool = True) -> ReadinessReport:
    return ReadinessReport(
        Readiness.FAILED, reason, preparation="FAILED" if retryable else None, retryable=retryable
    )


def gone(reason: str = "deleted at the source before it was archived") -> ReadinessReport:
    return ReadinessReport(Readiness.GONE, reason)


class FakeSource:
    """A ``RecordingSource`` in memory (``models.ports``); thread-safe, so a run can use it."""

    def __init__(self, name: str = "conversations") -> None:
        self.name = name
        self.held: dict[str, Held] = {}
        self.readiness_calls: list[tuple[str, bool]] = []  # (recording_id, refresh)
        self.download_calls: Counter[str] = Counter()
        self.deleted: list[str] = []  # confirmed deletions, in order
        self.list_calls: list[tuple[datetime, datetime]] = []
        self.closed = False
        self.unavailable: str | None = None  # set: source deletion is off, with this reason
        self.download_delay_s = 0.0  # each download takes at least this long (for overlap)
        self.peak_downloads = 0  # most downloads in progress at once
        self._downloading = 0
        self._lock = threading.Lock()

    # --- scripting ------------------------------------------------------------------------

    def add(
        self,
        recording_id: str,
        data: bytes,
        *,
        started_at: datetime = T0,
        media_type: str = "AUDIO",
        readiness: list[ReadinessReport] | None = None,
        downloads: list[Serve] | None = None,
        **listing: object,
    ) -> SourceRecording:
        """Hold a recording; ``listing`` sets other ``SourceRecording`` fields."""
        fields: dict[str, object] = {
            "conversation_id": f"conv-{recording_id}",
            "call_id": f"call-{recording_id}",
            "status": "SUCCESSFUL",
            "duration_s": 1,
            "participant_type": "CUSTOMER",
            **listing,
        }
        element = SourceRecording(
            source=self.name,
            recording_id=recording_id,
            started_at=started_at,
            media_type=media_type,
            raw={"recordingId": recording_id},
            **fields,  # type: ignore[arg-type]
        )
        self.held[recording_id] = Held(element, data, list(readiness or []), list(downloads or []))
        return element

    def add_many(
        self, count: int, make_data: Callable[[int], bytes], *, prefix: str = "rec"
    ) -> list[str]:
        """``count`` ready audio recordings a minute apart; returns their ids."""
        ids = []
        for i in range(count):
            rid = f"{prefix}-{i:03d}"
            self.add(rid, make_data(i), started_at=T0 + timedelta(minutes=i))
            ids.append(rid)
        return ids

    def script_readiness(self, recording_id: str, *answers: ReadinessReport) -> None:
        self.held[recording_id].readiness.extend(answers)

    def script_downloads(self, recording_id: str, *calls: Serve) -> None:
        self.held[recording_id].downloads.extend(calls)

    def change_bytes(self, recording_id: str, data: bytes) -> None:
        """From now on the source serves other bytes for this recording."""
        self.held[recording_id].data = data

    def sha256(self, recording_id: str) -> str:
        return hashlib.sha256(self.held[recording_id].data).hexdigest()

    # --- the port ---------------------------------------------------------------------------

    def list_recordings(self, *, since: datetime, until: datetime) -> Iterator[SourceRecording]:
        with self._lock:
            self.list_calls.append((since, until))
            listed = [h.listing for h in self.held.values() if not h.deleted]
        for element in sorted(listed, key=lambda e: (e.started_at, e.recording_id)):
            if since <= element.started_at < until:
                yield element

    def readiness(self, recording: Recording, *, refresh: bool = False) -> ReadinessReport:
        with self._lock:
            self.readiness_calls.append((recording.recording_id, refresh))
            held = self.held.get(recording.recording_id)
            if held is None or held.deleted:
                return ReadinessReport(Readiness.GONE, "the source no longer lists it")
            if not held.readiness:
                return ready()
            return held.readiness.pop(0) if len(held.readiness) > 1 else held.readiness[0]

    def download(
        self, recording: Recording, dest: Path, *, on_progress: Callable[[int], None] | None
    ) -> Download:
        rid = recording.recording_id
        with self._lock:
            self.download_calls[rid] += 1
            held = self.held.get(rid)
            if held is None or held.deleted:
                raise SourceNotFound(f"recording {rid}: 404 Not Found", status_code=404)
            serve = held.downloads.pop(0) if held.downloads else Serve()
            data = held.data if serve.data is None else serve.data
            self._downloading += 1
            self.peak_downloads = max(self.peak_downloads, self._downloading)
        try:
            if self.download_delay_s:
                time.sleep(self.download_delay_s)
            return self._serve(serve, data, dest, on_progress)
        finally:
            with self._lock:
                self._downloading -= 1

    def _serve(
        self,
        serve: Serve,
        data: bytes,
        dest: Path,
        on_progress: Callable[[int], None] | None,
    ) -> Download:
        offset = dest.stat().st_size if dest.exists() else 0
        resumes = serve.resumes + (1 if offset else 0)
        changed_at: int | None = None
        if offset:
            # Like the client: the bytes before the resume offset are re-read and compared.
            start = max(0, offset - RESUME_OVERLAP_BYTES)
            with dest.open("rb") as held_part:
                held_part.seek(start)
                if held_part.read(offset - start) != data[start:offset]:
                    changed_at = offset
        end = offset + serve.partial_bytes if serve.fail is not None else len(data)
        with dest.open("ab") as out:
            for start in range(offset, min(end, len(data)), CHUNK_BYTES):
                out.write(data[start : min(start + CHUNK_BYTES, end)])
                out.flush()
                if on_progress is not None:
                    on_progress(out.tell())
        if serve.fail is not None:
            if dest.stat().st_size == 0:
                dest.unlink()  # like the client: an empty file is litter, not a resume point
            raise serve.fail
        digest = hashlib.sha256(dest.read_bytes()).hexdigest()
        return Download(
            path=dest,
            size_bytes=dest.stat().st_size,
            sha256=digest,
            resumes=resumes,
            content_type="audio/wav",
            changed_at_resume=changed_at,
        )

    def deletion_unavailable(self) -> str | None:
        return self.unavailable

    def delete(self, recording: Recording) -> DeletionReceipt:
        with self._lock:
            held = self.held.get(recording.recording_id)
            if held is not None:
                held.deleted = True
            if recording.recording_id not in self.deleted:
                self.deleted.append(recording.recording_id)
        return DeletionReceipt(recording.recording_id, "fake source forgot it")

    def stats(self) -> Mapping[str, int]:
        with self._lock:
            return {"downloads": sum(self.download_calls.values())}

    def close(self) -> None:
        self.closed = True
