"""The Conversations messages routes against Infobip's published Conversations OpenAPI spec,
from both sides: every answer of the simulator on ``GET /ccaas/1/conversations/{id}/messages``
and ``GET /ccaas/1/conversations`` (pages, errors, injected faults), and every request and
answer of recvault's client while it reads a conversation's messages and a window's
conversations (held to the spec by ``tests/integration/infobip_spec.py``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from simulator.scenario import RequestFault, Scenario
from simulator.server import SimulatorServer
from storage.infobip.client import InfobipClient
from storage.infobip.conversations import ConversationsSource
from tests.fixtures.simulator import StartSimulator
from tests.integration.infobip_spec import (
    CONVERSATIONS_SPEC,
    ConversationsSpec,
    SpecCheckingTransport,
    SpecViolation,
)

pytestmark = pytest.mark.integration

CONVERSATIONS = "/ccaas/1/conversations"
SCENARIO = Scenario(seed=5, count=6, video_ratio=0.0, chat_conversations=2)


@pytest.fixture(scope="module")
def spec() -> ConversationsSpec:
    if not CONVERSATIONS_SPEC.is_file():
        pytest.skip(f"Infobip's Conversations spec is not at {CONVERSATIONS_SPEC} (shared/ absent)")
    return ConversationsSpec()


def exchange(
    spec: ConversationsSpec,
    sim: SimulatorServer,
    path: str,
    *,
    api_key: str | None = None,
    **kw: Any,
) -> httpx.Response:
    headers = {"Authorization": f"App {api_key or sim.api_key}"}
    answer = httpx.get(f"{sim.base_url}{path}", headers=headers, **kw)
    spec.check_response(
        "GET", path, answer.status_code, answer.headers.get("content-type"), answer.content
    )
    return answer


def test_every_simulator_answer_on_the_messages_routes(
    start_simulator: StartSimulator, spec: ConversationsSpec
) -> None:
    faults = {"rate_limit": RequestFault(first_n=1, endpoints=("messages",))}
    with start_simulator(SCENARIO.model_copy(update=faults)) as sim:
        conversation = sim.recordings()[0]["conversationId"]
        path = f"{CONVERSATIONS}/{conversation}/messages"
        assert exchange(spec, sim, path).status_code == 429
        seen: list[dict[str, Any]] = []
        page = 0
        while True:
            answer = exchange(spec, sim, path, params={"page": page, "limit": 2})
            assert answer.status_code == 200
            body = answer.json()
            seen += body["messages"]
            if (page + 1) * 2 >= body["pagination"]["totalItems"]:
                break
            page += 1
        assert len(seen) >= 3
        assert {m["conversationId"] for m in seen} == {conversation}
        newest_first = exchange(spec, sim, path, params={"orderBy": "createdAt:desc"}).json()
        created = [m["createdAt"] for m in newest_first["messages"]]
        assert created == sorted(created, reverse=True)
        for bad in ({"limit": "-1"}, {"limit": "1000"}, {"page": "-1"}):
            assert exchange(spec, sim, path, params=bad).status_code == 400
        unknown = exchange(spec, sim, f"{CONVERSATIONS}/no-such-conversation/messages")
        assert unknown.status_code == 400
        assert unknown.json()["requestError"]["serviceException"]["messageId"] == "NOT_FOUND"
        assert exchange(spec, sim, path, api_key="wrong").status_code == 401

        listing = exchange(spec, sim, CONVERSATIONS, params={"limit": 999}).json()
        conversations = {c["id"] for c in listing["conversations"]}
        # Every conversation of the recordings, and the chats without a recording.
        assert {e["conversationId"] for e in sim.recordings()} < conversations
        assert len(conversations) == listing["pagination"]["totalItems"]


def test_recvault_reads_messages_as_the_spec_says(
    start_simulator: StartSimulator, spec: ConversationsSpec
) -> None:
    with start_simulator(SCENARIO) as sim:
        transport = SpecCheckingTransport(spec)
        source = ConversationsSource(InfobipClient(sim.base_url, sim.api_key, transport=transport))
        try:
            conversation = sim.recordings()[0]["conversationId"]
            expected = sim.state.messages.messages_of(conversation)
            got = list(source.list_messages(conversation))
            assert sorted(m["id"] for m in got) == sorted(m["id"] for m in expected)
            start = SCENARIO.start_at - timedelta(days=1)
            listed = set(source.list_conversations(since=start, until=start + timedelta(days=2)))
            assert listed == set(sim.state.messages.conversation_ids())
            later = datetime(2030, 1, 1, tzinfo=UTC)
            assert list(source.list_conversations(since=later, until=later)) == []
            # recvault doctor asks Get messages for a conversation no account holds.
            checks = {c.route: c for c in source.client.check_routes(messages=True)}
            assert checks["messages"].confirmed, checks["messages"].detail
        finally:
            source.close()
    # Every exchange passed the spec check; on the messages routes: pages, and doctor's probe.
    statuses = {
        status for _m, path, status in transport.exchanges if path.startswith(CONVERSATIONS)
    }
    assert statuses == {200, 400}


def test_the_spec_check_catches_a_wrong_message(spec: ConversationsSpec) -> None:
    path = f"{CONVERSATIONS}/c1/messages"
    good = {
        "messages": [
            {
                "id": "m1",
                "channel": "SMS",
                "from": "447700900123",
                "to": "447700900000",
                "direction": "INBOUND",
                "conversationId": "c1",
                "createdAt": "2024-01-01T00:00:00.000+00:00",
                "contentType": "TEXT",
                "content": {"text": "hello"},
            }
        ],
        "pagination": {"totalItems": 1, "page": 0, "limit": 10, "orderBy": "id:ASC"},
    }
    spec.check_response("GET", path, 200, "application/json", json.dumps(good).encode())
    changes: list[tuple[str, str, object]] = [
        ("message", "direction", "SIDEWAYS"),
        ("message", "sender", "x"),  # a field the spec does not declare
        ("pagination", "totalItems", "one"),
    ]
    for where, field, value in changes:
        body = json.loads(json.dumps(good))
        (body["messages"][0] if where == "message" else body["pagination"])[field] = value
        with pytest.raises(SpecViolation):
            spec.check_response("GET", path, 200, "application/json", json.dumps(body).encode())
    url = f"https://example.api.infobip.com{path}"
    with pytest.raises(SpecViolation, match="greater than the maximum of 999"):
        spec.check_request(
            httpx.Request("GET", f"{url}?limit=1000", headers={"Authorization": "App k"})
        )
