"""``CallsSource``: Infobip's Calls API recordings (``/calls/1/recordings/...``) as a source.

The adapter behind ``models.ports.RecordingSource`` for accounts that record through the Calls
API (docs/infobip.md, "The Calls API"). It lists calls, conferences and dialogs and archives their
*files*: each file is one recording whose id is the file id (``storage.infobip.files``).
Requests, retries, error translation and resumable downloads are the shared HTTP core's
(``storage.infobip.core``), with the Calls API's own published limits: lists and reads 100 a
second; file downloads and, in a bucket of their own, file deletions 100 a minute.

The safety rules (docs/infobip.md, "Safety rules") hold here whatever the configuration: a
404 without an Infobip error body on any route is a ``ConfigError`` naming that route, never a
missing recording; a deletion is confirmed by reading back, never assumed; an unknown status
or location makes a recording wait with a reason, never fail.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from models.errors import (
    ConfigError,
    DeletionNotConfirmed,
    SourceDeletionUnavailable,
    SourceNotFound,
)
from models.ports import (
    DeletionReceipt,
    Download,
    Readiness,
    ReadinessReport,
    SharedRateLimits,
    SourceRecording,
)
from models.settings import Settings, SourceDeletion
from models.tables import Recording
from storage.infobip.core import Call, HttpCore, RouteCheck
from storage.infobip.files import (
    ENTITY_IDS,
    ENTITY_LISTS,
    ENTITY_PATHS,
    FILE_PATH,
    SOURCE_NAME,
    Entity,
    EntityKind,
    entity_start,
    file_ids_of,
    window_query,
)

__all__ = ["CallsSource"]

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100  # the spec's maximum for every Calls recordings list
# Conferences and dialogs first: a participant's file may also be listed as a call of its
# own, and the first sighting is the one kept, so the conference or dialog id survives.
LIST_ORDER: tuple[EntityKind, ...] = ("conference", "dialog", "call")
# The longest a recording is expected to run; widens endTimeBefore (see files.window_query).
DEFAULT_MAX_SPAN = timedelta(days=1)

# Operation classes, each with its own token bucket (Infobip limits per endpoint).
OP_LIST = "calls_list"  # lists, single reads: 100/s
OP_DOWNLOAD = "calls_download"  # GET /files/{fileId}: 100/min
OP_FILE_DELETE = "calls_file_delete"  # DELETE /files/{fileId}: 100/min

FINAL_STATUSES = frozenset({"SUCCESSFUL", "PARTIALLY_FAILED"})


class CallsSource:
    """Thread-safe Calls API recording source; share one per process."""

    name = SOURCE_NAME

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 30.0,
        list_rate_per_s: float = 100.0,
        file_rate_per_min: float = 100.0,
        retry_budget_s: float = 120.0,
        max_retries: int = 8,
        location: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        max_span: timedelta = DEFAULT_MAX_SPAN,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        shared_limits: SharedRateLimits | None = None,
        deletion: SourceDeletion = "off",
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"Calls page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.location = location
        self.page_size = page_size
        self.max_span = max_span
        self.deletion = deletion
        self._now = now
        # Burst 1: Infobip counts requests per second or per minute, and a bucket that saves
        # up tokens could send a whole minute's allowance on top of the steady rate.
        limits = {
            OP_LIST: (list_rate_per_s, 1),
            OP_DOWNLOAD: (file_rate_per_min / 60.0, 1),
            OP_FILE_DELETE: (file_rate_per_min / 60.0, 1),
        }
        self._core = HttpCore(
            base_url,
            api_key,
            limits=limits,
            timeout_s=timeout_s,
            retry_budget_s=retry_budget_s,
            max_retries=max_retries,
            transport=transport,
            sleep=sleep,
            clock=clock,
            shared_limits=shared_limits,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, shared_limits: SharedRateLimits | None = None
    ) -> CallsSource:
        return cls(
            settings.base_url,
            settings.api_key,
            timeout_s=settings.http_timeout_s,
            list_rate_per_s=settings.calls_list_rate_per_s,
            file_rate_per_min=settings.calls_file_rate_per_min,
            retry_budget_s=settings.retry_budget_s,
            shared_limits=shared_limits,
            location=settings.calls_location,
            deletion=settings.source_deletion,
        )

    def __repr__(self) -> str:
        return f"CallsSource(base_url={self._core.base_url!r})"

    def stats(self) -> Mapping[str, int]:
        return dataclasses.asdict(self._core.stats)

    def close(self) -> None:
        self._core.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- listing ---------------------------------------------------------------------------------

    def list_recordings(self, *, since: datetime, until: datetime) -> Iterator[SourceRecording]:
        """Every file of the calls, conferences and dialogs that started in ``[since, until)``.

        An entity belongs to the window its ``startTime`` falls in, with all its files (a
        participant who joined a conference later is archived with it). Each file id once.
        Arguments are checked when this is called; requests go out as the iterator is consumed.
        """
        if since.tzinfo is None or until.tzinfo is None:
            raise ConfigError("Calls listing window: datetimes must be timezone-aware")
        if since >= until:
            raise ConfigError(f"Calls listing window is empty: since={since} until={until}")
        return self._list(since.astimezone(UTC), until.astimezone(UTC))

    def _list(self, since: datetime, until: datetime) -> Iterator[SourceRecording]:
        seen: set[str] = set()
        for kind in LIST_ORDER:
            listed = 0
            for body in self._pages(kind, window_query(since, until, self.max_span)):
                start = entity_start(body)
                # No start time: kept (an unknown value never drops a recording).
                if start is not None and not since <= start < until:
                    continue
                entity = Entity(kind, body, self.location)
                for recording in entity.recordings(fallback_start=since):
                    if recording.recording_id in seen:
                        continue
                    seen.add(recording.recording_id)
                    listed += 1
                    yield recording
            log.debug("calls listed kind=%s files=%d", kind, listed)

    def _pages(self, kind: EntityKind, query: Mapping[str, str]) -> Iterator[Mapping[str, Any]]:
        """The elements of every page of one list, until the last page or an empty one."""
        call = Call(OP_LIST, "GET", ENTITY_LISTS[kind], route_checked=True)
        id_field = ENTITY_IDS[kind]
        served: set[str] = set()
        page = 0
        while True:
            params = {**query, **self._location_param(), "page": str(page)}
            params["size"] = str(self.page_size)
            body = self._core.request_json(call, params=params)
            results = body.get("results") if isinstance(body, dict) else None
            elements = (
                [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []
            )
            if not elements:
                return
            ids = {e.get(id_field) for e in elements}
            if page > 0 and None not in ids and ids <= served:
                # A server that ignores ``page`` would repeat itself for ever: stop instead.
                log.warning("calls list repeated a page kind=%s page=%d; stopping", kind, page)
                return
            served.update(i for i in ids if isinstance(i, str))
            yield from elements
            paging = body.get("paging") if isinstance(body, dict) else None
            total = paging.get("totalPages") if isinstance(paging, dict) else None
            if isinstance(total, int):
                if page + 1 >= total:
                    return
            elif len(elements) < self.page_size:  # no paging block: a short page is the last
                return
            page += 1

    def check_routes(self) -> list[RouteCheck]:
        """The Calls recordings list asked for one element (``recvault doctor``)."""
        call = Call(OP_LIST, "GET", ENTITY_LISTS["call"], route_checked=True)
        params = {**self._location_param(), "page": "0", "size": "1"}
        return [self._core.check_route("calls", call, params=params)]

    # --- readiness -------------------------------------------------------------------------------

    def readiness(self, recording: Recording, *, refresh: bool = False) -> ReadinessReport:
        """The catalog row's status and file location decide; the source is re-read when the
        row leaves it open (an unknown status or location) or when ``refresh`` asks.

        Re-reading GETs the file's call, conference or dialog: gone (an Infobip 404) or no
        longer listing the file is GONE; otherwise its fresh status and location decide.
        """
        raw = recording.raw or {}
        if recording.source_deleted_at is not None:
            return ReadinessReport(
                Readiness.GONE, "deleted at the source", recording.recording_status
            )
        status = recording.recording_status or _text(raw.get("recordingStatus"))
        report = judge(status, raw)
        # An SFTP file stays on SFTP: asking again would not change the answer.
        settled = report.state is not Readiness.WAITING or raw.get("fileLocation") == "SFTP"
        if settled and not refresh:
            return report
        fresh = self._reread(recording, raw)
        if fresh is None:
            return report
        if isinstance(fresh, ReadinessReport):
            return fresh
        return judge(fresh.status, fresh.raw)

    def _reread(
        self, recording: Recording, raw: Mapping[str, Any]
    ) -> SourceRecording | ReadinessReport | None:
        """The file as its entity lists it now; GONE when it is not there; None: cannot tell."""
        kind = raw.get("entity")
        entity_id = _text(raw.get("entityId"))
        if kind not in ENTITY_PATHS or entity_id is None:
            return None
        path = ENTITY_PATHS[kind]
        call = Call(OP_LIST, "GET", path, ids=((ENTITY_IDS[kind], entity_id),), route_checked=True)
        try:
            body = self._core.request_json(call, params=self._location_param(raw))
        except SourceNotFound:
            return ReadinessReport(Readiness.GONE, f"the {kind} recording {entity_id} is gone")
        entity = Entity(kind, body if isinstance(body, dict) else {}, _text(raw.get("location")))
        file_id = _file_id(recording)
        for fresh in entity.recordings(fallback_start=recording.started_at):
            if fresh.recording_id == file_id:
                return fresh
        return ReadinessReport(
            Readiness.GONE, f"the {kind} recording {entity_id} no longer lists file {file_id}"
        )

    # --- download --------------------------------------------------------------------------------

    def download(
        self, recording: Recording, dest: Path, *, on_progress: Callable[[int], None] | None
    ) -> Download:
        """Stream the file into ``dest``, resuming a partial file already there.

        The listed ``size`` is checked against what arrives (a mismatch is an integrity error).
        """
        raw = recording.raw or {}
        file = raw.get("file")
        size = file.get("size") if isinstance(file, dict) else None
        result = self._core.download(
            self._file_call(recording, OP_DOWNLOAD, "GET"),
            dest,
            params=self._location_param(raw),
            expected_size_bytes=size if isinstance(size, int) and size >= 0 else None,
            on_progress=on_progress,
        )
        return Download(
            path=result.path,
            size_bytes=result.size_bytes,
            sha256=result.sha256,
            resumes=result.resumes,
            content_type=result.content_type,
            changed_at_resume=result.changed_at,
        )

    # --- deletion --------------------------------------------------------------------------------

    def deletion_unavailable(self) -> str | None:
        """Why this source deletes nothing under its profile, or None when it deletes files."""
        if self.deletion == "calls-files":
            return None
        return (
            f"source deletion is {self.deletion} (RECVAULT_SOURCE_DELETION); Calls recordings "
            "are deleted only with calls-files"
        )

    def delete(self, recording: Recording) -> DeletionReceipt:
        """Delete the file (``DELETE /calls/1/recordings/files/{fileId}``), then confirm it.

        Confirmed when the file's entity no longer lists it (or is gone, an Infobip 404), or
        when the file's download answers an Infobip 404. A file already gone before the DELETE
        is confirmed the same way. Otherwise raises ``DeletionNotConfirmed``. Only with
        ``deletion="calls-files"``; otherwise ``SourceDeletionUnavailable``.
        """
        unavailable = self.deletion_unavailable()
        if unavailable is not None:
            raise SourceDeletionUnavailable(f"recording {recording.recording_id}: {unavailable}")
        return self.delete_file(recording)

    def locate_file(
        self,
        *,
        recording_id: str,
        filename: str | None,
        call_id: str | None,
        conference_id: str | None,
    ) -> Recording | None:
        """The Calls API file a recording of another source maps to, or None.

        Reads the call and the conference the recording names and looks for a file whose id
        is ``recording_id`` or whose name is ``filename`` (docs/infobip.md).
        """
        wanted: list[tuple[EntityKind, str]] = []
        if call_id:
            wanted.append(("call", call_id))
        if conference_id:
            wanted.append(("conference", conference_id))
        for kind, entity_id in wanted:
            path = ENTITY_PATHS[kind]
            call = Call(
                OP_LIST, "GET", path, ids=((ENTITY_IDS[kind], entity_id),), route_checked=True
            )
            try:
                body = self._core.request_json(call, params=self._location_param())
            except SourceNotFound:
                continue
            entity = Entity(kind, body if isinstance(body, dict) else {}, self.location)
            for found in entity.recordings(fallback_start=datetime.now(UTC)):
                if found.recording_id == recording_id or (
                    filename is not None and found.filename == filename
                ):
                    return Recording(
                        recording_id=found.recording_id,
                        source=SOURCE_NAME,
                        started_at=found.started_at,
                        raw=dict(found.raw),
                    )
        return None

    def delete_file(self, recording: Recording) -> DeletionReceipt:
        """The deletion itself, whatever the profile (``delete`` checks it first)."""
        raw = recording.raw or {}
        params = self._location_param(raw)
        delete = self._file_call(recording, OP_FILE_DELETE, "DELETE")
        try:
            self._core.request_json(delete, params=params)
            deleted = "DELETE answered 200"
        except SourceNotFound:
            deleted = "DELETE answered 404 (already gone)"
        confirmed_by = self._confirm(recording, raw, params)
        log.info(
            "calls deleted recording_id=%s confirmed_by=%r", recording.recording_id, confirmed_by
        )
        return DeletionReceipt(
            recording_id=recording.recording_id,
            confirmed_by=f"{deleted}; {confirmed_by}",
            deleted_at=self._now(),
        )

    def _confirm(self, recording: Recording, raw: Mapping[str, Any], params: dict[str, str]) -> str:
        file_id = _file_id(recording)
        kind = raw.get("entity")
        entity_id = _text(raw.get("entityId"))
        still_listed = ""
        if kind in ENTITY_PATHS and entity_id is not None:
            path = ENTITY_PATHS[kind]
            call = Call(
                OP_LIST, "GET", path, ids=((ENTITY_IDS[kind], entity_id),), route_checked=True
            )
            try:
                body = self._core.request_json(call, params=params)
            except SourceNotFound:
                return f"GET {path} answers 404: the {kind} recording {entity_id} is gone"
            if file_id not in file_ids_of(body if isinstance(body, dict) else {}):
                return f"GET {path} no longer lists file {file_id} in {kind} {entity_id}"
            still_listed = f"{kind} {entity_id} still lists file {file_id}"
        probe = self._file_call(recording, OP_DOWNLOAD, "GET")
        try:
            # One byte is enough to learn whether the file is still served.
            self._core.probe(probe, params=params, headers={"Range": "bytes=0-0"})
        except SourceNotFound:
            return f"GET {FILE_PATH} answers 404 for file {file_id}"
        found = still_listed or f"no entity to read back for file {file_id}"
        raise DeletionNotConfirmed(
            f"Infobip DELETE {FILE_PATH} fileId={file_id} answered, but the file is still there: "
            f"{found}, and its download still answers; not marking it deleted"
        )

    # --- plumbing --------------------------------------------------------------------------------

    def _file_call(self, recording: Recording, op: str, method: str) -> Call:
        ids = (("fileId", _file_id(recording)),)
        return Call(op, method, FILE_PATH, ids=ids, route_checked=True)

    def _location_param(self, raw: Mapping[str, Any] | None = None) -> dict[str, str]:
        """``location`` as the file was listed with (or as configured); none: account default."""
        location = _text(raw.get("location")) if raw is not None else None
        location = location or self.location
        return {"location": location} if location else {}


def judge(status: str | None, raw: Mapping[str, Any]) -> ReadinessReport:
    """Readiness from a recording's status and its file's ``location`` (listing ``raw``)."""
    word = status.upper() if status else None
    if word == "FAILED":
        reason = _text(raw.get("reason")) or "no reason given"
        # Infobip's verdict on the recording: another attempt would read the same.
        return ReadinessReport(
            Readiness.FAILED,
            f"recording FAILED at the source: {reason}",
            status,
            retryable=False,
        )
    if word is not None and word not in FINAL_STATUSES:
        return ReadinessReport(Readiness.WAITING, f"unknown status {status}", status)
    # Conferences and dialogs carry no status: their composed files count by location.
    location = _text(raw.get("fileLocation"))
    if location == "HOSTED":
        return ReadinessReport(Readiness.READY, None, status)
    if location == "SFTP":
        upload = _text(raw.get("sftpUploadStatus")) or "not reported"
        reason = (
            f"file is delivered to SFTP (sftpUploadStatus {upload}); the Calls API does not "
            "document downloading SFTP files, so fetch it from the SFTP server"
        )
        return ReadinessReport(Readiness.WAITING, reason, status)
    if location is None:
        return ReadinessReport(Readiness.WAITING, "file location not reported yet", status)
    return ReadinessReport(Readiness.WAITING, f"unknown file location {location}", status)


def _file_id(recording: Recording) -> str:
    raw = recording.raw or {}
    return _text(raw.get("fileId")) or recording.recording_id


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
