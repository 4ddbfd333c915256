"""Fakes shared by the tests/unit/test_infobip_*.py modules: a clock and a byte-serving handler."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from storage.infobip.client import InfobipClient
from tests.fixtures.profile import HYPOTHESIS_PATHS

API_KEY = "SeCrEt-ApI-kEy-0123456789"
BASE_URL = "https://example.api.infobip.com"
DOWNLOAD_PREFIX = "/ccaas/voice/2/recording/download/"

Handler = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    """Monotonic time that moves only when someone sleeps; records every sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def make_client(handler: Handler, clock: FakeClock | None = None, **kwargs: Any) -> InfobipClient:
    """A client on a MockTransport; rates are high so the limiter never sleeps unless asked."""
    clock = clock or FakeClock()
    options: dict[str, Any] = {
        "metadata_rate_per_s": 1e6,
        "metadata_burst": 1000,
        "download_rate_per_s": 1e6,
        "sleep": clock.sleep,
        "clock": clock,
        "paths": HYPOTHESIS_PATHS,  # the client's tests cover the section 9 routes too
    }
    options.update(kwargs)
    return InfobipClient(BASE_URL, API_KEY, transport=httpx.MockTransport(handler), **options)


class DroppingStream(httpx.SyncByteStream):
    """A body that delivers ``data[:drop_after]`` and then loses the connection."""

    def __init__(self, data: bytes, drop_after: int) -> None:
        self._data = data
        self._drop_after = drop_after

    def __iter__(self) -> Iterator[bytes]:
        yield self._data[: self._drop_after]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


class UnsizedStream(httpx.SyncByteStream):
    """A complete body sent without any length header (chunked transfer)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __iter__(self) -> Iterator[bytes]:
        yield self._data


class MediaServer:
    """Serves one recording's bytes with Range support; faults are queued per request."""

    def __init__(self, data: bytes, recording_id: str = "rec-1") -> None:
        self.data = data
        self.recording_id = recording_id
        self.requests: list[httpx.Request] = []
        # Each entry handles one request in turn; None means "serve normally".
        self.faults: list[Callable[[httpx.Request], httpx.Response] | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.url.raw_path.decode() == DOWNLOAD_PREFIX + quote(self.recording_id, safe="")
        fault = self.faults.pop(0) if self.faults else None
        if fault is not None:
            return fault(request)
        return self.serve(request)

    def serve(self, request: httpx.Request, *, drop_after: int | None = None) -> httpx.Response:
        start = range_start(request)
        total = len(self.data)
        if start is None:
            status, body, headers = 200, self.data, {}
        elif start >= total:
            return httpx.Response(416, headers={"Content-Range": f"bytes */{total}"})
        else:
            body = self.data[start:]
            status, headers = 206, {"Content-Range": f"bytes {start}-{total - 1}/{total}"}
        headers["Content-Type"] = "audio/wav"
        headers["Content-Length"] = str(len(body))
        if drop_after is None:
            return httpx.Response(status, headers=headers, content=body)
        return httpx.Response(status, headers=headers, stream=DroppingStream(body, drop_after))


def range_start(request: httpx.Request) -> int | None:
    value = request.headers.get("Range")
    if value is None:
        return None
    assert value.startswith("bytes=") and value.endswith("-"), value
    return int(value[len("bytes=") : -1])


def pseudo_random_bytes(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)
