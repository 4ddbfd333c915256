"""Infobip error bodies and status codes become the right models.errors exception, safely worded."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from models.errors import (
    RecordingNotReady,
    SourceAuthError,
    SourceBadRequest,
    SourceError,
    SourceNotFound,
    SourceRateLimited,
    SourceServerError,
    SourceUnavailable,
    SourceUnexpectedAnswer,
)
from storage.infobip.http import parse_error_body, parse_retry_after
from tests.unit.infobip_fakes import API_KEY, FakeClock, Handler, make_client

LEGACY = {"requestError": {"serviceException": {"messageId": "FORBIDDEN", "text": "No access"}}}
NEW = {"errorCode": "E404", "description": "Resource not found.", "action": "Check the id"}
CCAAS = {"status": "ERROR", "message": "Recording file rec-9 not found!"}


def _responder(status: int, body: object | bytes, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"App {API_KEY}"
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handler


@pytest.mark.parametrize(
    ("body", "code", "text"),
    [
        (LEGACY, "FORBIDDEN", "No access"),
        (
            {"requestError": {"policyException": {"messageId": "UNAUTHORIZED", "text": "Bad key"}}},
            "UNAUTHORIZED",
            "Bad key",
        ),
        (NEW, "E404", "Resource not found."),
        (CCAAS, None, "Recording file rec-9 not found!"),
        (
            {"Status": "ERROR", "message": "spelled as in the schema"},
            None,
            "spelled as in the schema",
        ),
        ({"unexpected": True}, None, None),
        ([1, 2], None, None),
    ],
)
def test_parse_error_body_reads_every_shape(
    body: object, code: str | None, text: str | None
) -> None:
    assert parse_error_body(json.dumps(body).encode()) == (code, text)


def test_parse_error_body_tolerates_non_json() -> None:
    assert parse_error_body(b"<html>502 Bad Gateway</html>") == (None, None)
    assert parse_error_body(b"\xff\xfe") == (None, None)


@pytest.mark.parametrize(
    ("status", "body", "expected", "fragment"),
    [
        (
            401,
            {
                "requestError": {
                    "serviceException": {
                        "messageId": "UNAUTHORIZED",
                        "text": "Invalid login details",
                    }
                }
            },
            SourceAuthError,
            "UNAUTHORIZED: Invalid login details",
        ),
        (403, LEGACY, SourceAuthError, "FORBIDDEN: No access"),
        (404, CCAAS, SourceNotFound, "Recording file rec-9 not found!"),
        (404, NEW, SourceNotFound, "E404: Resource not found."),
        (
            409,
            {"status": "ERROR", "message": "Recording rec-1 is not prepared for download"},
            RecordingNotReady,
            "not prepared for download",
        ),
        (
            400,
            {"status": "ERROR", "message": "Recording rec-1 is not a video recording"},
            SourceBadRequest,
            "is not a video recording",
        ),
        (422, NEW, SourceUnexpectedAnswer, "E404"),  # a status Infobip does not document
    ],
)
def test_status_and_shape_map_to_exception(
    status: int, body: object, expected: type[SourceError], fragment: str
) -> None:
    with make_client(_responder(status, body)) as client, pytest.raises(expected) as info:
        client.request_video_preparation("rec-1")
    assert type(info.value) is expected
    assert info.value.status_code == status
    assert fragment in str(info.value)
    assert "/download-preparation" in str(info.value)
    assert "recording_id=rec-1" in str(info.value)


def test_non_json_error_body_names_status_and_type_without_echoing_it() -> None:
    body = b"<html><body>upstream proxy error for user Alice</body></html>"
    handler = _responder(502, body, {"Content-Type": "text/html"})
    with make_client(handler, max_retries=0) as client, pytest.raises(SourceServerError) as info:
        client.get_account_recording_config()
    message = str(info.value)
    assert "HTTP 502" in message and "text/html" in message and str(len(body)) in message
    assert "Alice" not in message


def test_rate_limited_carries_retry_after_seconds() -> None:
    handler = _responder(429, LEGACY | {}, {"Retry-After": "12"})
    with make_client(handler, max_retries=0) as client, pytest.raises(SourceRateLimited) as info:
        client.get_account_recording_config()
    assert info.value.retry_after_s == 12.0
    assert info.value.retryable


def test_connection_error_becomes_source_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with make_client(handler, max_retries=0) as client, pytest.raises(SourceUnavailable) as info:
        client.get_account_recording_config()
    assert type(info.value) is SourceUnavailable
    assert "ConnectError" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_timeout_becomes_source_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with make_client(handler, max_retries=0) as client, pytest.raises(SourceUnavailable):
        client.get_video_preparation("rec-1")


def test_retry_after_http_date_and_garbage() -> None:
    now = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    )
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0
    )
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("-3") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_api_key_never_in_exceptions_or_logs(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Even when the server echoes the key back, neither messages nor log records carry it."""
    caplog.set_level(logging.DEBUG)
    echo = {
        "requestError": {
            "serviceException": {
                "messageId": "UNAUTHORIZED",
                "text": f"Key App {API_KEY} is not valid",
            }
        }
    }
    errors: list[BaseException] = []
    for status in (401, 404, 429, 500):
        handler = _responder(status, echo, {"Retry-After": "1"})
        with make_client(handler, max_retries=1) as client:
            for call in (
                client.get_account_recording_config,
                lambda c=client: c.download("rec-1", tmp_path / "rec-1.wav"),
                lambda c=client: c.get_recording("rec-1"),
                lambda c=client: c.delete_recording("rec-1"),
            ):
                with pytest.raises(SourceError) as info:
                    call()
                errors.append(info.value)

    def handler_conn(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused {request.headers['Authorization']}", request=request)

    with make_client(handler_conn, max_retries=1) as client, pytest.raises(SourceError) as info:
        client.get_account_recording_config()
    errors.append(info.value)

    assert len(errors) == 17
    for exc in errors:
        assert API_KEY not in str(exc) and API_KEY not in repr(exc)
    assert "is not valid" in str(errors[0])  # the server's text still comes through
    assert caplog.records, "the client logs each request"
    for record in caplog.records:
        assert API_KEY not in record.getMessage()


def test_client_repr_hides_key() -> None:
    with make_client(_responder(200, {})) as client:
        assert API_KEY not in repr(client)


def test_fake_clock_is_used_for_retries() -> None:
    clock = FakeClock()
    calls = iter([httpx.Response(503, json=LEGACY), httpx.Response(200, json={"enabled": True})])
    with make_client(lambda request: next(calls), clock) as client:
        assert client.get_account_recording_config().enabled is True
    assert len(clock.sleeps) == 1
