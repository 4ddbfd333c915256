"""Retries: which failures are retried, how long the client waits, and when it gives up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from models.errors import (
    SourceAuthError,
    SourceBadRequest,
    SourceNotFound,
    SourceRateLimited,
    SourceServerError,
    SourceUnavailable,
)
from storage.infobip.client import InfobipClient
from tests.unit.infobip_fakes import API_KEY, FakeClock, Handler, make_client

CONFIG = {"inbound": True, "outbound": False, "mediaType": "AUDIO", "enabled": True}
TOO_MANY = {
    "requestError": {
        "serviceException": {"messageId": "TOO_MANY_REQUESTS", "text": "Too many requests"}
    }
}
GENERAL = {"requestError": {"serviceException": {"messageId": "GENERAL_ERROR", "text": "Boom"}}}


def sequence(*steps: httpx.Response | type[httpx.TransportError]) -> tuple[Handler, list[int]]:
    """A handler answering with ``steps`` in order (an exception class is raised); counts calls."""
    calls: list[int] = []
    queue: Iterator[httpx.Response | type[httpx.TransportError]] = iter(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        step = next(queue)
        if isinstance(step, httpx.Response):
            return step
        raise step("simulated", request=request)

    return handler, calls


def always(status: int, body: object, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handler


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(429, json=TOO_MANY),
        httpx.Response(500, json=GENERAL),
        httpx.Response(502, content=b"Bad Gateway"),
        httpx.Response(503, json={"errorCode": "E503", "description": "Unavailable"}),
        httpx.ConnectError,
        httpx.ReadTimeout,
        httpx.RemoteProtocolError,
    ],
)
def test_transient_failures_are_retried_then_succeed(
    failure: httpx.Response | type[httpx.TransportError],
) -> None:
    clock = FakeClock()
    handler, calls = sequence(failure, failure, httpx.Response(200, json=CONFIG))
    with make_client(handler, clock) as client:
        config = client.get_account_recording_config()
        stats = client.stats
    assert config.enabled is True and config.media_type == "AUDIO"
    assert len(calls) == 3
    assert stats.requests == 3 and stats.retries == 2
    assert len(clock.sleeps) == 2
    # Full jitter: attempt n waits uniformly in [0, 0.5 * 2**n].
    assert 0 <= clock.sleeps[0] <= 0.5 and 0 <= clock.sleeps[1] <= 1.0


def test_stats_count_each_kind_of_failure() -> None:
    handler, _ = sequence(
        httpx.Response(429, json=TOO_MANY),
        httpx.Response(503, json=GENERAL),
        httpx.ConnectError,
        httpx.Response(200, json=CONFIG),
    )
    with make_client(handler) as client:
        client.get_account_recording_config()
        stats = client.stats
    assert (stats.requests, stats.retries) == (4, 3)
    assert (stats.rate_limited, stats.server_errors, stats.connection_errors) == (1, 1, 1)


def test_retry_after_seconds_is_the_sleep() -> None:
    clock = FakeClock()
    handler, _ = sequence(
        httpx.Response(429, json=TOO_MANY, headers={"Retry-After": "7"}),
        httpx.Response(503, json=GENERAL, headers={"Retry-After": "3"}),
        httpx.Response(200, json=CONFIG),
    )
    with make_client(handler, clock) as client:
        client.get_account_recording_config()
    assert clock.sleeps == [7.0, 3.0]


def test_retry_after_http_date_is_honoured() -> None:
    clock = FakeClock()
    when = datetime.now(UTC) + timedelta(seconds=40)
    handler, _ = sequence(
        httpx.Response(
            429, json=TOO_MANY, headers={"Retry-After": format_datetime(when, usegmt=True)}
        ),
        httpx.Response(200, json=CONFIG),
    )
    with make_client(handler, clock) as client:
        client.get_account_recording_config()
    assert len(clock.sleeps) == 1 and 35 <= clock.sleeps[0] <= 40


def test_time_budget_exhaustion_raises_the_last_error() -> None:
    clock = FakeClock()
    handler = always(429, TOO_MANY, {"Retry-After": "4"})
    with make_client(handler, clock, retry_budget_s=10, max_retries=100) as client:
        with pytest.raises(SourceRateLimited) as info:
            client.get_account_recording_config()
        stats = client.stats
    # Waits of 4 s fit twice into 10 s; a third would end at 12 s.
    assert clock.sleeps == [4.0, 4.0]
    assert stats.requests == 3
    assert "TOO_MANY_REQUESTS" in str(info.value)


def test_retry_after_longer_than_budget_fails_fast() -> None:
    clock = FakeClock()
    handler = always(429, TOO_MANY, {"Retry-After": "600"})
    client = make_client(handler, clock, retry_budget_s=120)
    with client, pytest.raises(SourceRateLimited) as info:
        client.get_account_recording_config()
    assert clock.sleeps == []
    assert info.value.retry_after_s == 600


def test_max_retries_bounds_attempts() -> None:
    clock = FakeClock()
    handler, calls = sequence(*[httpx.Response(500, json=GENERAL)] * 10)
    with make_client(handler, clock, max_retries=3) as client, pytest.raises(SourceServerError):
        client.get_account_recording_config()
    assert len(calls) == 4
    assert len(clock.sleeps) == 3
    for attempt, delay in enumerate(clock.sleeps):
        assert 0 <= delay <= 0.5 * 2**attempt


def test_connection_errors_exhausting_retries_raise_source_unavailable() -> None:
    handler, calls = sequence(*[httpx.ConnectError] * 5)
    with make_client(handler, max_retries=2) as client, pytest.raises(SourceUnavailable):
        client.get_account_recording_config()
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, SourceBadRequest),
        (401, SourceAuthError),
        (403, SourceAuthError),
        (404, SourceNotFound),
    ],
)
def test_other_4xx_are_not_retried(status: int, expected: type[Exception]) -> None:
    clock = FakeClock()
    handler, calls = sequence(*[httpx.Response(status, json=GENERAL)] * 3)
    with make_client(handler, clock) as client, pytest.raises(expected):
        client.get_account_recording_config()
    assert len(calls) == 1
    assert clock.sleeps == []


def test_requests_carry_auth_accept_and_user_agent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=CONFIG)

    with make_client(handler) as client:
        client.get_account_recording_config()
    headers = seen[0].headers
    assert headers["Authorization"] == f"App {API_KEY}"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("recvault/")
    assert seen[0].url.path == "/ccaas/voice/2/account-recording-config"


def test_from_settings_uses_the_configured_knobs() -> None:
    from models.settings import Settings

    settings = Settings(
        infobip_base_url="http://127.0.0.1:9",
        infobip_api_key=API_KEY,
        retry_budget_s=5,
        metadata_rate_per_s=3,
        metadata_burst=4,
    )
    with InfobipClient.from_settings(settings) as client:
        assert client.retry_budget_s == 5
        assert API_KEY not in repr(client)
