"""The HTTP core every Infobip client of recvault shares: one seam for requests and downloads.

``HttpCore`` owns the httpx client (``Authorization: App <key>``), one token bucket per
operation class (Infobip publishes its limits per endpoint), retries with full-jitter backoff on
429, 5xx and connection errors bounded by a count and a time budget, translation of error
responses into ``models.errors`` (``storage.infobip.http``), resumable hashed downloads
(``storage.infobip.download``) and request counters. The Conversations client
(``storage.infobip.client``) and the Calls source (``storage.infobip.calls``) only say *what*
to call (a :class:`Call`) and what the answer means.

Privacy: the API key lives only in the httpx client's default headers. Exception messages and
log lines carry path templates and ids, never query strings and never response bodies.
"""

from __future__ import annotations

import importlib.metadata
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from models.errors import (
    ConfigError,
    DownloadIntegrityError,
    RecvaultError,
    SourceServerError,
    SourceUnavailable,
)
from models.ports import SharedRateLimits
from storage.infobip.download import (
    RESUME_OVERLAP_BYTES,
    WorkFile,
    content_range,
    stream_body,
)
from storage.infobip.http import (
    RetryAllowance,
    error_from_response,
    hide_httpx_query_strings,
    redact,
    retry_after,
)
from storage.infobip.ratelimit import RateLimiter

log = logging.getLogger(__name__)
hide_httpx_query_strings()


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size_bytes: int
    sha256: str
    resumes: int  # requests sent with a Range header to continue a partial file
    content_type: str | None
    # A resume found the source's bytes changed (the overlap differed, or the source's
    # validator did): the file is stitched from two versions. None: every resume matched.
    changed_at: int | None = None


@dataclass(frozen=True)
class ClientStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    connection_errors: int = 0
    resumes: int = 0
    bytes_downloaded: int = 0  # body bytes read, resume overlaps included


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


def user_agent() -> str:
    try:
        version = importlib.metadata.version("recvault")
    except importlib.metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"recvault/{version}"


@dataclass(frozen=True)
class Call:
    """What one logical call is, for rate limiting, logs and error messages.

    ``ids`` fill the template's ``{name}`` fields (percent-encoded) and are named in messages.
    ``personal``: the query or the answer may hold names or numbers, so error texts are
    scrubbed of ``redact`` values and digit runs. ``route_checked``: a 404 without an Infobip
    error body means the route does not exist here, a configuration error, not a missing
    recording (docs/infobip.md, "Safety rules"). ``setting``: the variable that configures the
    route, named in that error.
    """

    op: str
    method: str
    template: str
    ids: tuple[tuple[str, str], ...] = ()
    redact: tuple[str, ...] = ()
    personal: bool = False
    route_checked: bool = False
    setting: str | None = None

    @property
    def path(self) -> str:
        if not self.ids:
            return self.template
        return self.template.format(**{name: quote(value, safe="") for name, value in self.ids})

    @property
    def where(self) -> str:
        named = "".join(f" {name}={value}" for name, value in self.ids)
        return f"Infobip {self.method} {self.template}{named}"

    @property
    def id_text(self) -> str:
        return ",".join(value for _name, value in self.ids) or "-"


@dataclass(frozen=True)
class RouteCheck:
    """What one configured route answered: ``confirmed`` when it answered as Infobip does
    (a success, or an error in one of Infobip's bodies); a plain 404 is not confirmed."""

    route: str
    method: str
    path: str
    confirmed: bool
    detail: str


class HttpCore:
    """Thread-safe requests and downloads against one Infobip base URL; share one per process."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        limits: Mapping[str, tuple[float, int]],
        timeout_s: float = 30.0,
        retry_budget_s: float = 120.0,
        max_retries: int = 8,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        shared_limits: SharedRateLimits | None = None,
    ) -> None:
        if not api_key.strip():
            raise ConfigError("Infobip API key must not be empty")
        self._shared = shared_limits
        if shared_limits is not None:
            shared_limits.ensure(limits)
        self._api_key = api_key
        self.max_retries = max_retries
        self.retry_budget_s = retry_budget_s
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random()
        self._counters = _Counters()
        self._limiter = RateLimiter(limits, clock=clock, sleep=sleep)
        self._http = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout_s),
            headers={
                "Authorization": f"App {api_key}",
                "Accept": "application/json",
                "User-Agent": user_agent(),
            },
        )

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    @property
    def stats(self) -> ClientStats:
        return self._counters.snapshot()

    def close(self) -> None:
        self._http.close()

    # --- one exchange ----------------------------------------------------------------------------

    def send(
        self,
        call: Call,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """One exchange after a rate-limit slot; a connection failure raises SourceUnavailable."""
        self._limiter.acquire(call.op)
        if self._shared is not None:
            self._shared.acquire(call.op)
        request = self._http.build_request(
            call.method, call.path, params=dict(params) if params else None, headers=headers
        )
        self._counters.add("requests")
        started = time.perf_counter()
        status: int | str = "error"
        try:
            response = self._http.send(request, stream=stream)
            status = response.status_code
        except httpx.TransportError as exc:
            self._counters.add("connection_errors")
            message = f"{call.where}: connection failed: {type(exc).__name__}: {exc}"
            raise SourceUnavailable(self.scrubber(call)(message)) from exc
        finally:
            log.debug(
                "infobip request method=%s path=%s recording_id=%s status=%s duration_ms=%.0f",
                call.method,
                call.template,
                call.id_text,
                status,
                (time.perf_counter() - started) * 1000,
            )
        if status == 429:
            self._counters.add("rate_limited")
        elif isinstance(status, int) and status >= 500:
            self._counters.add("server_errors")
        return response

    def error_of(self, call: Call, response: httpx.Response) -> RecvaultError | None:
        """The exception an answer stands for (None below 400); reads at most 64 KiB of it."""
        return error_from_response(
            response,
            where=call.where,
            scrub=self.scrubber(call),
            plain_404_is_config=call.route_checked,
            setting=call.setting,
        )

    def request_json(self, call: Call, *, params: Mapping[str, str] | None = None) -> Any:
        """The decoded JSON answer of ``call``, retrying what a later attempt may fix."""
        retry = self.allowance(call)
        while True:
            try:
                response = self.send(call, params=params)
            except SourceUnavailable as exc:
                retry.backoff(exc)
                continue
            error = self.error_of(call, response)
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

    def probe(
        self,
        call: Call,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> int:
        """The status of a successful answer to ``call``, its body left unread.

        Retries what a later attempt may fix, like :meth:`request_json`; an error answer
        raises the error it stands for (an Infobip 404 is ``SourceNotFound``).
        """
        retry = self.allowance(call)
        while True:
            try:
                response = self.send(call, params=params, headers=headers, stream=True)
            except SourceUnavailable as exc:
                retry.backoff(exc)
                continue
            try:
                error = self.error_of(call, response)
            finally:
                response.close()
            if error is None:
                return response.status_code
            if not isinstance(error, SourceUnavailable):
                raise error
            retry.backoff(error, retry_after(response))

    def check_route(
        self,
        route: str,
        call: Call,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RouteCheck:
        """Does ``call``'s route answer as Infobip does? For ``recvault doctor``: a success,
        Infobip's own 404 or a 400/409/416 confirms it; a plain 404 does not. Credentials
        refused raise (``SourceAuthError``)."""

        def result(confirmed: bool, detail: str) -> RouteCheck:
            return RouteCheck(route, call.method, call.template, confirmed, detail)

        try:
            status = self.probe(call, params=params, headers=headers)
        except ConfigError:
            return result(False, "HTTP 404 without an Infobip error body: not confirmed")
        except RecvaultError as exc:
            status_code = getattr(exc, "status_code", None)
            if status_code in (401, 403):
                raise
            if status_code in (400, 404, 409, 416):
                return result(True, f"answers as Infobip does (HTTP {status_code})")
            return result(False, f"not confirmed: {exc}")
        return result(True, f"answers as Infobip does (HTTP {status})")

    # --- downloads -------------------------------------------------------------------------------

    def download(
        self,
        call: Call,
        dest: Path,
        *,
        params: Mapping[str, str] | None = None,
        expected_size_bytes: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> DownloadResult:
        """Stream ``call``'s body into ``dest``, resuming a partial file left there earlier.

        ``on_progress`` gets the file's size in bytes after every chunk. The retry allowance
        restarts whenever bytes arrive, so a long download over a flaky link may resume many
        times while a link that delivers nothing gives up after the usual budget.
        """
        work = WorkFile(dest, expected_size_bytes)
        try:
            content_type, resumes, changed_at = self._download_into(
                call, work, params, expected_size_bytes, on_progress
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
            "infobip downloaded recording_id=%s bytes=%d resumes=%d changed_at=%s",
            call.id_text,
            work.size,
            resumes,
            changed_at,
        )
        return DownloadResult(
            path=dest,
            size_bytes=work.size,
            sha256=work.hasher.hexdigest(),
            resumes=resumes,
            content_type=content_type,
            changed_at=changed_at,
        )

    def _download_into(
        self,
        call: Call,
        work: WorkFile,
        params: Mapping[str, str] | None,
        expected_size_bytes: int | None,
        on_progress: Callable[[int], None] | None,
    ) -> tuple[str | None, int, int | None]:
        """Run requests until the file is complete; returns (Content-Type, resumes, the offset
        of the first resume that found the source's bytes changed).

        A resume is checked without a second download: it re-reads an overlap before its
        offset and compares it with the file (``storage.infobip.download``), and where the
        source sent a validator (a strong ``ETag``, else ``Last-Modified``) it also sends
        ``If-Range``, so a changed source answers 200 with the whole new version.
        """
        retry = self.allowance(call)
        resumes = 0
        restarted_after_416 = False
        validator: str | None = None  # of the response the file's first bytes came from
        changed_at: int | None = None
        while True:
            # identity: Range offsets must count the stored bytes, not a compressed encoding.
            headers = {"Accept": "application/octet-stream", "Accept-Encoding": "identity"}
            overlap = 0
            if work.size > 0:
                overlap = min(RESUME_OVERLAP_BYTES, work.size)
                headers["Range"] = f"bytes={work.size - overlap}-"
                if validator is not None:
                    headers["If-Range"] = validator
                resumes += 1
                self._counters.add("resumes")
            try:
                response = self.send(call, params=params, headers=headers, stream=True)
            except SourceUnavailable as exc:
                retry.backoff(exc)
                continue
            try:
                if response.status_code == 416:
                    full = content_range(response)[2]
                    full = full if full is not None else expected_size_bytes
                    if work.size > 0 and work.size == full:
                        return None, resumes, changed_at
                    if work.size > 0 and not restarted_after_416:
                        # The partial file does not belong to this recording: start again once.
                        restarted_after_416 = True
                        work.truncate()
                        continue
                    raise DownloadIntegrityError(
                        f"{call.where}: HTTP 416 for a file of {work.size} bytes",
                        status_code=416,
                    )
                error = self.error_of(call, response)
                if error is not None:
                    if not isinstance(error, SourceUnavailable):
                        raise error
                    response.close()  # before sleeping, so the connection goes back to the pool
                    retry.backoff(error, retry_after(response))
                    continue
                sent = response_validator(response)
                if work.size > 0 and changed_at is None:
                    if response.status_code == 200 and "If-Range" in headers:
                        changed_at = work.size  # If-Range: the representation is not the same
                    elif validator is not None and sent is not None and sent != validator:
                        changed_at = work.size
                if response.status_code == 200 or validator is None:
                    validator = sent
                body = stream_body(
                    response,
                    work,
                    where=call.where,
                    expected_size_bytes=expected_size_bytes,
                    on_progress=on_progress,
                    overlap=overlap,
                )
            finally:
                response.close()
            self._counters.add("bytes_downloaded", body.network_bytes)
            if body.changed_at is not None and changed_at is None:
                changed_at = body.changed_at
                log.warning(
                    "infobip bytes changed at the source recording_id=%s resume_offset=%d",
                    call.id_text,
                    changed_at,
                )
            if body.dropped:
                self._counters.add("connection_errors")
            if body.incomplete is None:
                return response.headers.get("Content-Type"), resumes, changed_at
            if body.received > 0:
                retry.restart()
            retry.backoff(body.incomplete)

    # --- plumbing --------------------------------------------------------------------------------

    def allowance(self, call: Call) -> RetryAllowance:
        return RetryAllowance(
            max_retries=self.max_retries,
            budget_s=self.retry_budget_s,
            clock=self._clock,
            sleep=self._sleep,
            rng=self._rng,
            label=f"{call.method} {call.template}",
            on_retry=lambda: self._counters.add("retries"),
        )

    def scrubber(self, call: Call) -> Callable[[str], str]:
        def scrub(message: str) -> str:
            return redact(message, secret=self._api_key, values=call.redact, personal=call.personal)

        return scrub


def response_validator(response: httpx.Response) -> str | None:
    """What ``If-Range`` may carry for this response: a strong ``ETag``, else ``Last-Modified``
    (a weak ETag never matches in ``If-Range``, so it is no use)."""
    etag: str | None = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    modified: str | None = response.headers.get("Last-Modified")
    return modified or None
