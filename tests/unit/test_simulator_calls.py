"""The simulator's Calls recordings routes in-process (ASGI): data, paging, deletion, faults."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from simulator.app import create_app
from simulator.calls.dataset import KINDS
from simulator.scenario import CallsScenario, RecordingPick, RequestFault, Scenario
from simulator.state import SimulatorState
from tests.unit.test_simulator_api import AsgiClient, legacy

KEY = "unit-key"
CALLS = "/calls/1/recordings/calls"
CONFERENCES = "/calls/1/recordings/conferences"
DIALOGS = "/calls/1/recordings/dialogs"
FILES = "/calls/1/recordings/files"


@pytest.fixture
def clients() -> Iterator[list[AsgiClient]]:
    made: list[AsgiClient] = []
    yield made
    for client in made:
        client.close()


def start(clients: list[AsgiClient], **calls: Any) -> tuple[AsgiClient, SimulatorState]:
    scenario = Scenario(seed=3, api_key=KEY, calls=CallsScenario(**calls))
    state = SimulatorState(scenario)
    client = AsgiClient(create_app(state), headers={"Authorization": f"App {KEY}"})
    clients.append(client)
    return client, state


def test_the_data_set_is_seeded_and_leaves_conversations_alone() -> None:
    one = SimulatorState(Scenario(seed=3))
    two = SimulatorState(Scenario(seed=3))
    other = SimulatorState(Scenario(seed=4))
    without = SimulatorState(Scenario(seed=3, calls=CallsScenario(count=0)))
    kinds = KINDS
    assert [one.calls.entities(k) for k in kinds] == [two.calls.entities(k) for k in kinds]
    assert one.calls.entities("call") != other.calls.entities("call")
    assert one.recordings() == without.recordings()
    assert sum(len(one.calls.entities(k)) for k in kinds) == 12


def test_lists_page_with_spec_paging(clients: list[AsgiClient]) -> None:
    client, state = start(clients, count=20, kinds_weights=(1.0, 0.0, 0.0))
    ids: list[str] = []
    for number in range(7):
        body = client.get(CALLS, params={"page": number, "size": 3}).json()
        assert body["paging"] == {"page": number, "size": 3, "totalPages": 7, "totalResults": 20}
        ids += [r["callId"] for r in body["results"]]
    assert ids == [c["callId"] for c in state.calls.entities("call")]
    assert client.get(CALLS, params={"page": 7, "size": 3}).json()["results"] == []
    assert client.get(CALLS).json()["paging"]["size"] == 20  # the spec's default


def test_list_filters(clients: list[AsgiClient]) -> None:
    client, state = start(clients, count=12)
    calls = state.calls.entities("call")
    middle = calls[len(calls) // 2]
    after = client.get(CALLS, params={"startTimeAfter": middle["startTime"], "size": 100}).json()
    assert [r["callId"] for r in after["results"]] == [
        c["callId"] for c in calls if c["startTime"] > middle["startTime"]
    ]
    before = client.get(CALLS, params={"endTimeBefore": middle["endTime"], "size": 100}).json()
    assert middle["callId"] not in [r["callId"] for r in before["results"]]
    # What the SDKs send (microseconds) is read as well as Infobip's own milliseconds.
    sdk_time = middle["startTime"].replace("+0000", "000+0000")
    assert client.get(CALLS, params={"startTimeAfter": sdk_time}).status_code == 200
    by_id = client.get(CALLS, params={"callId": middle["callId"]}).json()
    assert [r["callId"] for r in by_id["results"]] == [middle["callId"]]
    conference = state.calls.entities("conference")[0]
    leg = conference["callRecordings"][-1]["callId"]
    found = client.get(CONFERENCES, params={"callId": leg}).json()["results"]
    assert [r["conferenceId"] for r in found] == [conference["conferenceId"]]


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"size": "0"}, "size: must be between 1 and 100"),
        ({"size": "101"}, "size: must be between 1 and 100"),
        ({"page": "-1"}, "page: must be greater than or equal to 0"),
        ({"page": "x"}, "page: must be a valid number"),
        ({"startTimeAfter": "monday"}, "startTimeAfter: must be a date-time"),
        ({"location": "MARS"}, "location: unknown recording location 'MARS'"),
        ({"composition": "maybe"}, "composition: must be true or false"),
    ],
)
def test_bad_list_queries_are_legacy_400s(
    clients: list[AsgiClient], params: dict[str, str], text: str
) -> None:
    client, _ = start(clients)
    path = DIALOGS if "composition" in params else CALLS
    answer = client.get(path, params=params)
    assert answer.status_code == 400
    assert answer.json()["requestError"]["serviceException"]["messageId"] == "BAD_REQUEST"
    assert answer.json()["requestError"]["serviceException"]["text"].startswith(text)


def test_auth_and_injected_faults_apply(clients: list[AsgiClient]) -> None:
    client, _ = start(clients)
    denied = client.get(CALLS, headers={"Authorization": "App wrong"})
    assert denied.status_code == 401
    assert denied.json() == legacy("UNAUTHORIZED", "Invalid login details")
    throttled = SimulatorState(
        Scenario(api_key=KEY, rate_limit=RequestFault(first_n=1, endpoints=("calls_list",)))
    )
    limited = AsgiClient(create_app(throttled), headers={"Authorization": f"App {KEY}"})
    clients.append(limited)
    first = limited.get(CALLS)
    assert first.status_code == 429 and first.json() == legacy(
        "TOO_MANY_REQUESTS", "Too many requests"
    )
    assert limited.get(CALLS).status_code == 200
    assert limited.get(f"{FILES}/nope").status_code == 404  # other endpoints untouched


def test_deleting_a_file_keeps_its_recording(clients: list[AsgiClient]) -> None:
    client, state = start(clients)
    target = next(f for f in state.calls.files() if f["entity"] == "call")
    deleted = client.delete(f"{FILES}/{target['id']}")
    assert deleted.status_code == 200 and deleted.json()["id"] == target["id"]
    assert deleted.json()["size"] == target["size"]
    call = client.get(f"{CALLS}/{target['callId']}").json()
    assert target["id"] not in [f["id"] for f in call["files"]]
    assert client.get(f"{FILES}/{target['id']}").json() == legacy(
        "NOT_FOUND", f"Recording file {target['id']} was not found."
    )
    assert client.delete(f"{FILES}/{target['id']}").status_code == 404


def test_deleting_a_recording_takes_its_files(clients: list[AsgiClient]) -> None:
    client, state = start(clients, count=12)
    conference = state.calls.entities("conference")[0]
    conference_id = conference["conferenceId"]
    answer = client.delete(f"{CONFERENCES}/{conference_id}")
    assert answer.status_code == 200 and answer.json() == conference
    assert client.get(f"{CONFERENCES}/{conference_id}").status_code == 404
    gone = [f["id"] for f in conference["composedFiles"]]
    gone += [f["id"] for leg in conference["callRecordings"] for f in leg["files"]]
    assert gone
    assert all(client.get(f"{FILES}/{file_id}").status_code == 404 for file_id in gone)
    assert client.get(f"{CALLS}/nope").json() == legacy(
        "NOT_FOUND", "Call recording nope was not found."
    )


def test_downloads_honour_range(clients: list[AsgiClient]) -> None:
    client, state = start(clients)
    target = next(f for f in state.calls.files() if f["location"] == "HOSTED")
    url = f"{FILES}/{target['id']}"
    whole = client.get(url)
    assert whole.status_code == 200 and len(whole.content) == target["size"]
    assert whole.headers["content-type"] == "application/octet-stream"
    part = client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == whole.content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{target['size']}"
    for bad in (f"bytes={target['size']}-", "pages=1-2"):
        refused = client.get(url, headers={"Range": bad})
        assert refused.status_code == 416
        assert refused.json()["requestError"]["serviceException"]["messageId"] == (
            "REQUESTED_RANGE_NOT_SATISFIABLE"
        )
    assert state.calls.media_sha256(target["id"]) == hashlib.sha256(whole.content).hexdigest()


def test_failed_partial_and_sftp_recordings(clients: list[AsgiClient]) -> None:
    client, state = start(
        clients,
        count=12,
        failed=RecordingPick(count=3),
        partially_failed=RecordingPick(count=3),
        sftp=RecordingPick(count=1),
    )
    by_id = {f["id"]: f for f in state.calls.files()}
    assert state.calls.ids_with("failed") and state.calls.ids_with("partially_failed")
    for file_id in state.calls.ids_with("failed"):
        assert by_id[file_id]["status"] == "FAILED"
        assert client.get(f"{FILES}/{file_id}").status_code == 404
    for file_id in state.calls.ids_with("partially_failed"):
        assert by_id[file_id]["status"] == "PARTIALLY_FAILED"
        assert client.get(f"{FILES}/{file_id}").status_code == 200
    (sftp,) = state.calls.ids_with("sftp")
    assert by_id[sftp]["location"] == "SFTP" and by_id[sftp]["sftpUploadStatus"] == "UPLOADED"
    assert client.get(f"{FILES}/{sftp}").status_code == 404
