"""HTTP plumbing of the Infobip client: error bodies, Retry-After, the retry allowance, privacy.

Infobip answers errors in three shapes (docs/infobip.md, "Error bodies"): legacy
``requestError.serviceException{messageId,text}``, the newer ``{errorCode, description}`` and
the ccaas ``{"status": "ERROR", "message": ...}``; anything else (proxies, HTML) is described
by status and content type only, never echoed.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from models.errors import (
    ConfigError,
    RecordingNotReady,
    RecvaultError,
    SourceAuthError,
    SourceBadRequest,
    SourceError,
    SourceNotFound,
    SourceRateLimited,
    SourceServerError,
    SourceUnexpectedAnswer,
)

log = logging.getLogger(__name__)

ERROR_BODY_MAX_BYTES = 64 * 1024
ERROR_TEXT_MAX_CHARS = 300
BACKOFF_BASE_S = 0.5
# Infobip's limits are token buckets refilled every second: without a Retry-After, a 429 clears
# within about a second, and a longer wait only stalls the run (eight faults in a row cost 45 s
# on average with a 30 s cap, 12 s with this one). Outages longer than a few retries are the
# catalog's back-off's to ride out (RECVAULT_RETRY_BACKOFF_S), not one request's.
BACKOFF_CAP_S = 4.0
# Long digit runs in metadata error texts may be phone numbers echoed from a filter.
_DIGIT_RUN = re.compile(r"\+?\d[\d .()-]{5,}\d")


def parse_error_body(body: bytes) -> tuple[str | None, str | None]:
    """``(code, text)`` from any of Infobip's three error shapes; ``(None, None)`` otherwise."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(data, dict):
        return None, None

    def _str(value: object) -> str | None:
        return value if isinstance(value, str) and value else None

    request_error = data.get("requestError")
    if isinstance(request_error, dict):
        for kind in ("serviceException", "policyException"):
            exc = request_error.get(kind)
            if isinstance(exc, dict):
                return _str(exc.get("messageId")), _str(exc.get("text"))
    if "errorCode" in data or "description" in data:
        return _str(data.get("errorCode")), _str(data.get("description"))
    status = data.get("status", data.get("Status"))  # the spec spells it "Status" once
    if isinstance(status, str) and status.upper() == "ERROR":
        # Infobip's ccaas shape even without a message: the route exists and answered.
        return None, _str(data.get("message")) or "status ERROR"
    return None, None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0.0, (at - (now or datetime.now(UTC))).total_seconds())


def retry_after(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("Retry-After"))


# Status codes Infobip documents for the recording routes (docs/infobip.md),
# plus 409, recvault's model of an unprepared video (section 9). Anything else is an answer
# nobody has seen documented: the recording waits with the reason instead of failing.
KNOWN_ERROR_STATUSES = frozenset({400, 401, 403, 404, 409, 416, 429})


def error_for_status(status: int, message: str, retry_after_s: float | None) -> SourceError:
    if status >= 500:
        return SourceServerError(message, status_code=status)
    if status not in KNOWN_ERROR_STATUSES:
        return SourceUnexpectedAnswer(message, status_code=status)
    if status in (401, 403):
        return SourceAuthError(message, status_code=status)
    if status == 404:
        return SourceNotFound(message, status_code=status)
    if status == 409:  # hypothesis: "Recording <id> is not prepared for download"
        return RecordingNotReady(message, status_code=status)
    if status == 429:
        return SourceRateLimited(message, retry_after_s=retry_after_s)
    return SourceBadRequest(message, status_code=status)


def error_from_response(
    response: httpx.Response,
    *,
    where: str,
    scrub: Callable[[str], str],
    plain_404_is_config: bool = False,
    setting: str | None = None,
) -> RecvaultError | None:
    """The exception an error response stands for (None below 400); reads at most 64 KiB.

    With ``plain_404_is_config``, a 404 that carries none of Infobip's error bodies is a
    ``ConfigError``: a proxy or a wrong base URL answered, so the route does not exist there,
    and that must never read as "the recording is gone" (docs/infobip.md, "Safety rules").
    """
    status = response.status_code
    if status < 400:
        return None
    body = read_capped(response)
    code, text = parse_error_body(body)
    if status == 404 and plain_404_is_config and code is None and text is None:
        kind = response.headers.get("Content-Type", "no content type")
        fix = f"{setting} and RECVAULT_INFOBIP_BASE_URL" if setting else "RECVAULT_INFOBIP_BASE_URL"
        return ConfigError(
            scrub(
                f"{where}: HTTP 404 without an Infobip error body ({kind}, {len(body)} bytes): "
                f"the route does not exist at {_url_of(response)}; check {fix} and whether "
                "the account offers this API"
            )
        )
    message = f"{where}: HTTP {status}"
    if code:
        message += f" {code}"
    if text:
        message += f": {text[:ERROR_TEXT_MAX_CHARS]}"
    elif code is None:
        kind = response.headers.get("Content-Type", "no content type")
        message += f" {response.reason_phrase} ({kind}, {len(body)} bytes)"
    return error_for_status(status, scrub(message), retry_after(response))


def _url_of(response: httpx.Response) -> str:
    """Scheme, host and path of the request (never the query, which may hold filters)."""
    try:
        return str(response.request.url.copy_with(query=None))
    except RuntimeError:  # a response built without a request (tests)
        return "this base URL"


def read_capped(response: httpx.Response) -> bytes:
    """At most 64 KiB of a body; a body cut off by the network is used as far as it came."""
    if response.is_stream_consumed:
        return response.content[:ERROR_BODY_MAX_BYTES]
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size >= ERROR_BODY_MAX_BYTES:
                break
    except httpx.TransportError:
        pass
    return b"".join(chunks)[:ERROR_BODY_MAX_BYTES]


def redact(message: str, *, secret: str, values: Iterable[str] = (), personal: bool = False) -> str:
    """Remove the API key always; with ``personal``, also the query values and digit runs."""
    message = message.replace(secret, "***")
    if personal:
        for value in values:
            if len(value) >= 2:
                message = message.replace(value, "<redacted>")
        message = _DIGIT_RUN.sub("<redacted>", message)
    return message


class RetryAllowance:
    """Attempt count and time budget of one logical call; ``backoff`` sleeps or raises."""

    def __init__(
        self,
        *,
        max_retries: int,
        budget_s: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        rng: random.Random,
        label: str,
        on_retry: Callable[[], None] = lambda: None,
    ) -> None:
        self._max_retries = max_retries
        self._budget_s = budget_s
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._label = label
        self._on_retry = on_retry
        self.restart()

    def restart(self) -> None:
        """Progress was made (bytes arrived), so the allowance starts afresh."""
        self._retries = 0
        self._started_at = self._clock()

    def backoff(self, error: SourceError, retry_after_s: float | None = None) -> None:
        """Sleep before the next attempt, or raise ``error`` when the allowance is spent.

        Full jitter (uniform in [0, base * 2**n]) spreads the retries of many workers that
        hit the same 429; a server-given Retry-After is taken as is.
        """
        if self._retries >= self._max_retries:
            raise error
        if retry_after_s is not None:
            delay_s = retry_after_s
        else:
            delay_s = self._rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**self._retries))
        if self._clock() - self._started_at + delay_s > self._budget_s:
            raise error
        self._retries += 1
        self._on_retry()
        log.info(
            "infobip retry call=%s attempt=%d delay_s=%.2f reason=%s status=%s",
            self._label,
            self._retries,
            delay_s,
            type(error).__name__,
            error.status_code,
        )
        self._sleep(delay_s)


class HideQueryStrings(logging.Filter):
    """httpx logs every request URL at INFO; metadata query filters may be names or numbers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                a.copy_with(query=None) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


def hide_httpx_query_strings() -> None:
    """Install :class:`HideQueryStrings` on httpx's logger once."""
    httpx_log = logging.getLogger("httpx")
    if not any(type(f).__name__ == HideQueryStrings.__name__ for f in httpx_log.filters):
        httpx_log.addFilter(HideQueryStrings())
