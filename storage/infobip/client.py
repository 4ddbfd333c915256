"""The Infobip Conversations recordings client (what it relies on: docs/infobip.md).

One seam for everything recvault asks Infobip: httpx errors and HTTP error bodies become
``models.errors`` here (``storage.infobip.http``), and nothing above this module sees httpx.
Requests are rate-limited per operation class (``storage.infobip.ratelimit``) and retried with
full-jitter exponential backoff on 429, 5xx and connection errors, bounded by a retry count
and a time budget. Downloads stream into a hashed work file (``storage.infobip.download``).

Privacy: the API key lives only in the httpx client's default headers. Exception messages and
log lines carry path templates and recording ids, never query strings (metadata filters may be
names or phone numbers) and never metadata response bodies.
"""

from __future__ import annotations

import importlib.metadata
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from models.errors import (
    ConfigError,
    DownloadIntegrityError,
    SourceNotFound,
    SourceServerError,
    SourceUnavailable,
)
from models.settings import Settings
from models.source import (
    AccountRecordingConfig,
    PreparationStatus,
    RecordingMetadata,
    datetime_to_epoch_ms,
)
from storage.infobip.download import CHUNK_BYTES, WorkFile, content_range, stream_body
from storage.infobip.http import (
    RetryAllowance,
    error_from_response,
    hide_httpx_query_strings,
    redact,
    retry_after,
)
from storage.infobip.listing import keyset_listing, page_elements, parse_element
from storage.infobip.ratelimit import RateLimiter

__all__ = [
    "CHUNK_BYTES",
    "ClientStats",
    "DownloadResult",
    "InfobipClient",
    "InfobipPaths",
]

log = logging.getLogger(__name__)
hide_httpx_query_strings()

MAX_PAGE_SIZE = 999
_RESERVED_PARAMS = frozenset(
    {"startedAtFrom", "startedAtTo", "page", "size", "sortBy", "sortDirection"}
)
_M = TypeVar("_M", RecordingMetadata, PreparationStatus, AccountRecordingConfig)

# Operation classes, each with its own token bucket (Infobip limits per endpoint).
OP_METADATA = "metadata"
OP_PREPARATION = "preparation"
OP_CONFIG = "config"
OP_DELETE = "delete"
OP_DOWNLOAD = "download"


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size_bytes: int
    sha256: str
    resumes: int  # requests sent with a Range header to continue a partial file
    content_type: str | None


@dataclass(frozen=True)
class InfobipPaths:
    """Every path recvault calls, in one place (preparation and delete are hypotheses)."""

    metadata: str = "/ccaas/voice/2/recording/metadata"
    download: str = "/ccaas/voice/2/recording/download/{recording_id}"
    preparation: str = "/ccaas/voice/2/recording/{recording_id}/download-preparation"
    delete: str = "/ccaas/voice/2/recording/{recording_id}"
    account_config: str = "/ccaas/voice/2/account-recording-config"


_DEFAULT_PATHS = InfobipPaths()


@dataclass(frozen=True)
class ClientStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    connection_errors: int = 0
    resumes: int = 0
    bytes_downloaded: int = 0


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys((f.name for f in fields(ClientStats)), 0)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def snapshot(self) -> ClientStats:
        with self._lock:
            return ClientStats(**self._values)


def _user_agent() -> str:
    try:
        version = importlib.metadata.version("recvault")
    except importlib.metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"recvault/{version}"


@dataclass(frozen=True)
class _Call:
    """What one logical call is, for rate limiting, logs and error messages."""

    op: str
    method: str
    template: str
    recording_id: str | None = None
    redact: tuple[str, ...] = ()  # values sent in the query that must not reach messages

    @property
    def path(self) -> str:
        if self.recording_id is None:
            return self.template
        return self.template.format(recording_id=quote(self.recording_id, safe=""))

    @property
    def where(self) -> str:
        rid = f" recording_id={self.recording_id}" if self.recording_id is not None else ""
        return f"Infobip {self.method} {self.template}{rid}"


class InfobipClient:
    """Thread-safe client of the Conversations recordings API; share one per process."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 30.0,
        metadata_rate_per_s: float = 10.0,
        metadata_burst: int = 20,
        download_rate_per_s: float = 100.0,
        retry_budget_s: float = 120.0,
        max_retries: int = 8,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        paths: InfobipPaths = _DEFAULT_PATHS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key.strip():
            raise ConfigError("Infobip API key must not be empty")
        self._api_key = api_key
        self.paths = paths
        self.max_retries = max_retries
        self.retry_budget_s = retry_budget_s
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random()
        self._counters = _Counters()
        download_burst = max(1, int(download_rate_per_s))
        limits = dict.fromkeys(
            (OP_METADATA, OP_PREPARATION, OP_CONFIG, OP_DELETE),
            (metadata_rate_per_s, metadata_burst),
        )
        limits[OP_DOWNLOAD] = (download_rate_per_s, download_burst)
        self._limiter = RateLimiter(limits, clock=clock, sleep=sleep)
        self._http = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout_s),
            headers={
                "Authorization": f"App {api_key}",
                "Accept": "application/json",
                "User-Agent": _user_agent(),
            },
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> InfobipClient:
        return cls(
            settings.base_url,
            settings.api_key,
            timeout_s=settings.http_timeout_s,
            metadata_rate_per_s=settings.metadata_rate_per_s,
            metadata_burst=settings.metadata_burst,
            download_rate_per_s=settings.download_rate_per_s,
            retry_budget_s=settings.retry_budget_s,
        )

    def __repr__(self) -> str:
        return f"InfobipClient(base_url={str(self._http.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def stats(self) -> ClientStats:
        return self._counters.snapshot()

    # --- metadata ------------------------------------------------------------------------------

    def list_recordings(
        self,
        *,
        started_from: datetime,
        started_to: datetime,
        page_size: int = MAX_PAGE_SIZE,
        **filters: str,
    ) -> Iterator[RecordingMetadata]:
        """Every recording started in ``[started_from, started_to]``, each id once, oldest first.

        Keyset paging over pages that shift while recordings arrive (``storage.infobip.listing``).
        Arguments are checked when this is called; requests go out as the iterator is consumed.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        if clash := sorted(_RESERVED_PARAMS & filters.keys()):
            raise ConfigError(f"list_recordings sets {', '.join(clash)} itself; drop the filter")
        try:
            from_ms = datetime_to_epoch_ms(started_from)
            to_ms = datetime_to_epoch_ms(started_to)
        except ValueError as exc:
            raise ConfigError(f"listing window: {exc}") from None
        call = _Call(OP_METADATA, "GET", self.paths.metadata, redact=tuple(filters.values()))

        def fetch(cursor_ms: int, page: int) -> Any:
            params = {
                **filters,
                "startedAtFrom": str(cursor_ms),
                "startedAtTo": str(to_ms),
                "page": str(page),
                "size": str(page_size),
                "sortBy": "startedAt",
                "sortDirection": "ASC",
            }
            return self._request_json(call, params=params)

        return keyset_listing(fetch, from_ms=from_ms)

    def get_recording(self, recording_id: str) -> RecordingMetadata:
        call = _Call(OP_METADATA, "GET", self.paths.metadata, redact=(recording_id,))
        body = self._request_json(call, params={"recordingId": recording_id, "size": "20"})
        for position, raw in enumerate(page_elements(body)):
            record = parse_element(raw, page=0, position=position)
            if record is not None and record.recording_id == recording_id:
                return record
        raise SourceNotFound(f"Infobip has no metadata for recording_id={recording_id}")

    def delete_recording(self, recording_id: str) -> RecordingMetadata:
        call = _Call(OP_DELETE, "DELETE", self.paths.delete, recording_id)
        return self._validate(RecordingMetadata, self._request_json(call), call)

    def get_account_recording_config(self) -> AccountRecordingConfig:
        call = _Call(OP_CONFIG, "GET", self.paths.account_config)
        return self._validate(AccountRecordingConfig, self._request_json(call), call)

    # --- video preparation (a hypothesis: docs/infobip.md) -------------------------------------

    def request_video_preparation(self, recording_id: str) -> PreparationStatus:
        call = _Call(OP_PREPARATION, "POST", self.paths.preparation, recording_id)
        return self._validate(PreparationStatus, self._request_json(call), call)

    def get_video_preparation(self, recording_id: str) -> PreparationStatus:
        call = _Call(OP_PREPARATION, "GET", self.paths.preparation, recording_id)
        return self._validate(PreparationStatus, self._request_json(call), call)

    # --- download ------------------------------------------------------------------------------

    def download(
        self,
        recording_id: str,
        dest: Path,
        *,
        expected_size_bytes: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> DownloadResult:
        """Stream the recording into ``dest``, resuming a partial file left there earlier.

        ``on_progress`` gets the file's size in bytes after every chunk. The retry allowance
        restarts whenever bytes arrive, so a long download over a flaky link may resume many
        times while a link that delivers nothing gives up after the usual budget.
        """
        call = _Call(OP_DOWNLOAD, "GET", self.paths.download, recording_id)
        work = WorkFile(dest, expected_size_bytes)
        try:
            content_type, resumes = self._download_into(
                call, work, expected_size_bytes, on_progress
            )
            work.finish()
        except Exception as exc:
            work.close()
            # Bytes that failed an integrity check cannot be trusted by the next attempt; an
            # empty file (nothing arrived) is only litter. Other partial files are kept to resume.
            if isinstance(exc, DownloadIntegrityError) or work.size == 0:
                dest.unlink(missing_ok=True)
            raise
        finally:
            work.close()
        log.debug(
            "infobip downloaded recording_id=%s bytes=%d resumes=%d",
            recording_id,
            work.size,
            resumes,
        )
        return DownloadResult(
            path=dest,
            size_bytes=work.size,
            sha256=work.hasher.hexdigest(),
            resumes=resumes,
            content_type=content_type,
        )

    def _download_into(
        self,
        call: _Call,
        work: WorkFile,
        expected_size_bytes: int | None,
        on_progress: Callable[[int], None] | None,
    ) -> tuple[str | None, int]:
        """Run requests until the file is complete; returns (Content-Type, resumes)."""
        retry = self._allowance(call)
        resumes = 0
        restarted_after_416 = False
        while True:
            # identity: Range offsets must count the stored bytes, not a compressed encoding.
            headers = {"Accept": "application/octet-stream", "Accept-Encoding": "identity"}
            if work.size > 0:
                headers["Range"] = f"bytes={work.size}-"
                resumes += 1
                self._counters.add("resumes")
            try:
                response = self._send(call, headers=headers, stream=True)
            except SourceUnavailable as exc:
                retry.backoff(exc)
                continue
            try:
                if response.status_code == 416:
                    full = content_range(response)[2]
                    full = full if full is not None else expected_size_bytes
                    if work.size > 0 and work.size == full:
                        return None, resumes
                    if work.size > 0 and not restarted_after_416:
                        # The partial file does not belong to this recording: start again once.
                        restarted_after_416 = True
                        work.truncate()
                        continue
                    raise DownloadIntegrityError(
                        f"{call.where}: HTTP 416 for a file of {work.size} bytes",
                        status_code=416,
                    )
                error = error_from_response(response, where=call.where, scrub=self._scrubber(call))
                if error is not None:
                    if not isinstance(error, SourceUnavailable):
                        raise error
                    response.close()  # before sleeping, so the connection goes back to the pool
                    retry.backoff(error, retry_after(response))
                    continue
                body = stream_body(
                    response,
                    work,
                    where=call.where,
                    expected_size_bytes=expected_size_bytes,
                    on_progress=on_progress,
                )
            finally:
                response.close()
            self._counters.add("bytes_downloaded", body.received)
            if body.dropped:
                self._counters.add("connection_errors")
            if body.incomplete is None:
                return response.headers.get("Content-Type"), resumes
            if body.received > 0:
                retry.restart()
            retry.backoff(body.incomplete)

    # --- plumbing ------------------------------------------------------------------------------

    def _allowance(self, call: _Call) -> RetryAllowance:
        return RetryAllowance(
            max_retries=self.max_retries,
            budget_s=self.retry_budget_s,
            clock=self._clock,
            sleep=self._sleep,
            rng=self._rng,
            label=f"{call.method} {call.template}",
            on_retry=lambda: self._counters.add("retries"),
        )

    def _scrubber(self, call: _Call) -> Callable[[str], str]:
        def scrub(message: str) -> str:
            personal = call.op == OP_METADATA
            return redact(message, secret=self._api_key, values=call.redact, personal=personal)

        return scrub

    def _send(
        self,
        call: _Call,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """One exchange after a rate-limit slot; a connection failure raises SourceUnavailable."""
        self._limiter.acquire(call.op)
        request = self._http.build_request(call.method, call.path, params=params, headers=headers)
        self._counters.add("requests")
        started = time.perf_counter()
        status: int | str = "error"
        try:
            response = self._http.send(request, stream=stream)
            status = response.status_code
        except httpx.TransportError as exc:
            self._counters.add("connection_errors")
            message = f"{call.where}: connection failed: {type(exc).__name__}: {exc}"
            raise SourceUnavailable(self._scrubber(call)(message)) from exc
        finally:
            log.debug(
                "infobip request method=%s path=%s recording_id=%s status=%s duration_ms=%.0f",
                call.method,
                call.template,
                call.recording_id or "-",
                status,
                (time.perf_counter() - started) * 1000,
            )
        if status == 429:
            self._counters.add("rate_limited")
        elif isinstance(status, int) and status >= 500:
            self._counters.add("server_errors")
        return response

    def _request_json(self, call: _Call, *, params: dict[str, str] | None = None) -> Any:
        retry = self._allowance(call)
        while True:
            try:
                response = self._send(call, params=params)
            except SourceUnavailable as exc:
                retry.backoff(exc)
                continue
            error = error_from_response(response, where=call.where, scrub=self._scrubber(call))
            if error is None:
                try:
                    return response.json()
                except (ValueError, UnicodeDecodeError):
                    raise SourceServerError(
                        f"{call.where}: HTTP {response.status_code} with a body that is not JSON",
                        status_code=response.status_code,
                    ) from None
            if not isinstance(error, SourceUnavailable):
                raise error
            retry.backoff(error, retry_after(response))

    @staticmethod
    def _validate(model: type[_M], body: Any, call: _Call) -> _M:
        try:
            return model.model_validate(body)
        except ValidationError:
            raise SourceServerError(
                f"{call.where}: response is not a valid {model.__name__}"
            ) from None
