"""Get messages and the conversations listing over ``httpx.MockTransport``: paging to the end,
the request's exact parameters, the 500-a-minute limit, and errors without personal data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import httpx
import pytest

from models.errors import SourceBadRequest, SourceRateLimited, SourceServerError
from storage.infobip.messages import infobip_time
from tests.unit.infobip_fakes import FakeClock, make_client

PHONE = "447700900123"


def page_handler(
    total: int, requests: list[httpx.Request]
) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        page = int(request.url.params["page"])
        limit = int(request.url.params["limit"])
        ids = range(page * limit, min(total, (page + 1) * limit))
        body = {
            "messages": [
                {"id": f"m{i}", "from": PHONE, "content": {"text": f"hello {i}"}} for i in ids
            ],
            "pagination": {"totalItems": total, "page": page, "limit": limit, "orderBy": "x"},
        }
        return httpx.Response(200, json=body)

    return handle


def test_messages_are_read_page_by_page_to_the_end() -> None:
    requests: list[httpx.Request] = []
    handler = page_handler(2500, requests)
    client = make_client(handler, messages_rate_per_min=1e9)
    got = list(client.list_messages("conv/1"))
    assert [m["id"] for m in got] == [f"m{i}" for i in range(2500)]
    assert [r.url.params["page"] for r in requests] == ["0", "1", "2"]  # 999 + 999 + 502
    first = requests[0]
    # The id is one path segment, percent-encoded.
    assert first.url.raw_path.split(b"?")[0] == b"/ccaas/1/conversations/conv%2F1/messages"
    assert dict(first.url.params) == {"page": "0", "limit": "999", "orderBy": "createdAt:asc"}


def test_an_empty_page_ends_the_listing_without_a_total() -> None:
    calls = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        page = int(request.url.params["page"])
        return httpx.Response(200, json={"messages": [{"id": "a"}] if page == 0 else []})

    assert [m["id"] for m in make_client(handle).list_messages("c")] == ["a"]
    assert len(calls) == 2


def test_get_messages_keeps_to_500_a_minute() -> None:
    clock = FakeClock()
    handler = page_handler(5 * 999, [])
    client = make_client(handler, clock=clock)
    assert len(list(client.list_messages("c"))) == 5 * 999
    # Burst 1 at 500/min: the first request at once, each next one 0.12 s later.
    assert clock.sleeps == pytest.approx([0.12] * 4)


def test_the_conversations_listing_asks_for_the_window() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {
            "conversations": [{"id": "c1"}, {"id": "c2"}, {"id": "c1"}],
            "pagination": {"totalItems": 3, "page": 0, "limit": 999},
        }
        return httpx.Response(200, json=body)

    since = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)
    until = datetime(2026, 1, 5, 10, tzinfo=UTC)
    client = make_client(handle, messages_rate_per_min=1e9)
    assert list(client.list_conversations(since=since, until=until)) == ["c1", "c2"]
    params = seen[0].url.params
    assert params["updatedAfter"] == "2026-01-05T09:00:00.123+0000"
    assert params["updatedBefore"] == infobip_time(until) == "2026-01-05T10:00:00.000+0000"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            400,
            {"requestError": {"serviceException": {"messageId": "NOT_FOUND", "text": "no c"}}},
            SourceBadRequest,
        ),
        (429, {"requestError": {"serviceException": {"messageId": "TOO_MANY_REQUESTS"}}}, None),
        (200, "not json", SourceServerError),
    ],
)
def test_errors_name_the_route_never_a_message(
    status: int, body: object, error: type[Exception] | None
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, content=f"{body} {PHONE}".encode())
        return httpx.Response(status, json=body)

    client = make_client(handle, messages_rate_per_min=1e9, retry_budget_s=0, max_retries=0)
    with pytest.raises(error or SourceRateLimited) as caught:
        list(client.list_messages("conv-1"))
    text = str(caught.value)
    assert "/ccaas/1/conversations/{conversation_id}/messages" in text
    assert PHONE not in text and "hello" not in text


class RecordingLimits:
    """``models.ports.SharedRateLimits`` that remembers what it was asked."""

    def __init__(self) -> None:
        self.ensured: dict[str, tuple[float, int]] = {}
        self.acquired: list[str] = []

    def ensure(self, limits: Mapping[str, tuple[float, int]]) -> None:
        self.ensured.update(limits)

    def acquire(self, op: str) -> None:
        self.acquired.append(op)


def test_get_messages_takes_a_slot_of_the_shared_limit_of_its_own() -> None:
    shared = RecordingLimits()
    client = make_client(page_handler(1500, []), shared_limits=shared)
    assert len(list(client.list_messages("c"))) == 1500
    # Prefect's global limit recvault-infobip-messages: 500 a minute across every worker.
    rate, burst = shared.ensured["messages"]
    assert rate == pytest.approx(500 / 60) and burst == 1
    assert shared.acquired == ["messages", "messages"]
