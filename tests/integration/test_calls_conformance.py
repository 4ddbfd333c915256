"""The simulator's Calls recordings API against Infobip's contract, from both sides.

Infobip's own Python SDK (``infobip-api-python-client``, ``CallsApi``) drives the simulator:
its models must parse every answer. The same raw answers, and every request and answer of
recvault's ``CallsSource``, are checked against Infobip's published Voice OpenAPI spec
(``tests/integration/infobip_spec.py``), read from ``<repo>/../shared/infobip-openapi/``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from infobip_api_client import ApiClient, Configuration
from infobip_api_client.api.calls_api import CallsApi
from infobip_api_client.api_response import ApiResponse
from infobip_api_client.exceptions import ApiException
from infobip_api_client.models.call_recording import CallRecording
from infobip_api_client.models.calls_recording_file import CallsRecordingFile

from models.tables import Recording
from simulator.scenario import CallsScenario, ConnectionFault, RecordingPick, Scenario
from simulator.server import SimulatorServer
from storage.infobip.calls import CallsSource
from tests.fixtures.simulator import StartSimulator
from tests.integration.infobip_spec import (
    VOICE_SPEC,
    SpecCheckingTransport,
    SpecViolation,
    VoiceSpec,
)

pytestmark = pytest.mark.integration

PREFIX = "/calls/1/recordings"
Kind = Literal["call", "conference", "dialog"]
KINDS: dict[Kind, str] = {"call": "calls", "conference": "conferences", "dialog": "dialogs"}
ID_FIELDS = {"call": "call_id", "conference": "conference_id", "dialog": "dialog_id"}
WIDE_SINCE = datetime(2020, 1, 1, tzinfo=UTC)
WIDE_UNTIL = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def spec() -> VoiceSpec:
    if not VOICE_SPEC.is_file():
        pytest.skip(f"Infobip's Voice spec is not at {VOICE_SPEC} (shared/ absent)")
    return VoiceSpec()


@contextlib.contextmanager
def calls_api(sim: SimulatorServer, api_key: str | None = None) -> Iterator[CallsApi]:
    config = Configuration(
        host=sim.base_url,
        api_key={"APIKeyHeader": api_key or sim.api_key},
        api_key_prefix={"APIKeyHeader": "App"},
    )
    with ApiClient(config) as client:
        yield CallsApi(client)


def check(spec: VoiceSpec, method: str, path: str, answer: ApiResponse[Any]) -> None:
    headers = answer.headers or {}
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    spec.check_response(method, path, answer.status_code, content_type, answer.raw_data)


def check_error(spec: VoiceSpec, method: str, path: str, exc: ApiException) -> None:
    headers = exc.headers or {}
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    body = exc.body.encode() if isinstance(exc.body, str) else (exc.body or b"")
    assert exc.status is not None
    spec.check_response(method, path, exc.status, content_type, body)


def list_page(api: CallsApi, kind: Kind, **query: Any) -> ApiResponse[Any]:
    method = {
        "call": api.get_calls_recordings_with_http_info,
        "conference": api.get_conferences_recordings_with_http_info,
        "dialog": api.get_dialogs_recordings_with_http_info,
    }[kind]
    return method(**query)  # type: ignore[no-any-return, operator]


# --- the SDK drives the simulator ----------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_sdk_pages_every_list(simulator: SimulatorServer, spec: VoiceSpec, kind: Kind) -> None:
    expected = [e[ID_FIELDS[kind].replace("_id", "Id")] for e in simulator.calls.entities(kind)]
    assert expected, f"the clean scenario has no {kind} recordings"
    path = f"{PREFIX}/{KINDS[kind]}"
    seen: list[str] = []
    page = 0
    with calls_api(simulator) as api:
        while True:
            answer = list_page(api, kind, page=page, size=2)
            check(spec, "GET", path, answer)
            data = answer.data
            assert data.paging is not None and data.paging.page == page
            assert data.paging.total_results == len(expected)
            seen += [getattr(r, ID_FIELDS[kind]) for r in data.results or []]
            if page + 1 >= data.paging.total_pages:
                break
            page += 1
    assert seen == expected
    assert page + 1 == -(-len(expected) // 2)


def test_sdk_list_filters(simulator: SimulatorServer, spec: VoiceSpec) -> None:
    calls = simulator.calls.entities("call")
    middle = calls[len(calls) // 2]
    started = datetime.fromisoformat(middle["startTime"])
    ended = datetime.fromisoformat(middle["endTime"])
    with calls_api(simulator) as api:
        after = api.get_calls_recordings_with_http_info(
            start_time_after=started - timedelta(milliseconds=1), size=100
        )
        before = api.get_calls_recordings_with_http_info(
            end_time_before=ended + timedelta(milliseconds=1), size=100
        )
        by_id = api.get_calls_recordings_with_http_info(call_id=middle["callId"])
        leg = simulator.calls.entities("conference")[0]["callRecordings"][0]["callId"]
        with_leg = api.get_conferences_recordings_with_http_info(call_id=leg)
    for answer in (after, before, by_id):
        check(spec, "GET", f"{PREFIX}/calls", answer)
    check(spec, "GET", f"{PREFIX}/conferences", with_leg)
    after_ids = [r.call_id for r in after.data.results or []]
    before_ids = [r.call_id for r in before.data.results or []]
    assert middle["callId"] in after_ids and middle["callId"] in before_ids
    assert after_ids == [c["callId"] for c in calls if c["startTime"] >= middle["startTime"]]
    assert [r.call_id for r in by_id.data.results or []] == [middle["callId"]]
    assert len(with_leg.data.results or []) == 1


def test_sdk_reads_single_recordings(simulator: SimulatorServer, spec: VoiceSpec) -> None:
    with calls_api(simulator) as api:
        for entity in simulator.calls.entities("call")[:3]:
            answer = api.get_call_recordings_with_http_info(entity["callId"])
            check(spec, "GET", f"{PREFIX}/calls/{entity['callId']}", answer)
            assert isinstance(answer.data, CallRecording)
            assert {f.id for f in answer.data.files or []} == {f["id"] for f in entity["files"]}
            assert answer.data.endpoint is not None
        conference = simulator.calls.entities("conference")[0]
        in_conference = api.get_conference_recordings_with_http_info(conference["conferenceId"])
        check(spec, "GET", f"{PREFIX}/conferences/x", in_conference)
        assert in_conference.data.conference_id == conference["conferenceId"]
        dialog = simulator.calls.entities("dialog")[0]
        in_dialog = api.get_dialog_recordings_with_http_info(dialog["dialogId"])
        check(spec, "GET", f"{PREFIX}/dialogs/x", in_dialog)
        assert len(in_dialog.data.call_recordings or []) == 2
        with pytest.raises(ApiException) as missing:
            api.get_call_recordings("no-such-call")
    assert missing.value.status == 404
    check_error(spec, "GET", f"{PREFIX}/calls/no-such-call", missing.value)


def test_every_endpoint_type_parses(simulator: SimulatorServer, spec: VoiceSpec) -> None:
    """All calls, including participants of conferences and dialogs, through the SDK models."""
    with calls_api(simulator) as api:
        answers = [list_page(api, kind, size=100) for kind in KINDS]
    types = set()
    for kind, answer in zip(KINDS, answers, strict=True):
        check(spec, "GET", f"{PREFIX}/{KINDS[kind]}", answer)
        for result in answer.data.results or []:
            legs = [result] if kind == "call" else result.call_recordings or []
            for leg in legs:
                # The SDK picks the endpoint's own model by its discriminator.
                assert type(leg.endpoint).__name__ != "CallEndpoint"
                types.add(str(leg.endpoint.type.value))
    assert {"PHONE", "WEBRTC", "SIP"} <= types


def test_sdk_downloads_with_range(simulator: SimulatorServer, spec: VoiceSpec) -> None:
    file = next(f for f in simulator.calls.files() if f["location"] == "HOSTED")
    path = f"{PREFIX}/files/{file['id']}"
    with calls_api(simulator) as api:
        whole = api.download_recording_file_with_http_info(file["id"])
        part = api.download_recording_file_with_http_info(file["id"], range="bytes=0-99")
        tail = api.download_recording_file_with_http_info(file["id"], range="bytes=100-")
        with pytest.raises(ApiException) as beyond:
            api.download_recording_file(file["id"], range=f"bytes={file['size']}-")
    check(spec, "GET", path, whole)
    check(spec, "GET", path, part)
    assert whole.status_code == 200 and part.status_code == 206 and tail.status_code == 206
    assert len(whole.data) == file["size"]
    assert bytes(part.data) + bytes(tail.data) == bytes(whole.data)
    assert beyond.value.status == 416
    check_error(spec, "GET", path, beyond.value)


def test_sdk_deletes_a_file_and_a_recording(
    start_simulator: StartSimulator, spec: VoiceSpec
) -> None:
    with start_simulator(Scenario(seed=11)) as sim, calls_api(sim) as api:
        call = next(c for c in sim.calls.entities("call") if c["files"])
        file_id = call["files"][0]["id"]
        deleted = api.delete_recording_file_with_http_info(file_id)
        check(spec, "DELETE", f"{PREFIX}/files/{file_id}", deleted)
        assert isinstance(deleted.data, CallsRecordingFile) and deleted.data.id == file_id
        after = api.get_call_recordings(call["callId"])
        assert file_id not in {f.id for f in after.files or []}  # metadata stays, file goes
        for action in (api.download_recording_file, api.delete_recording_file):
            with pytest.raises(ApiException) as gone:
                action(file_id)
            assert gone.value.status == 404
            check_error(spec, "GET", f"{PREFIX}/files/{file_id}", gone.value)
        dialog_id = sim.calls.entities("dialog")[0]["dialogId"]
        removed = api.delete_dialog_recordings_with_http_info(dialog_id)
        check(spec, "DELETE", f"{PREFIX}/dialogs/{dialog_id}", removed)
        with pytest.raises(ApiException) as dialog_gone:
            api.get_dialog_recordings(dialog_id)
        assert dialog_gone.value.status == 404


def test_errors_are_infobips_legacy_bodies(simulator: SimulatorServer, spec: VoiceSpec) -> None:
    with calls_api(simulator, api_key="wrong-key") as api, pytest.raises(ApiException) as denied:
        api.get_calls_recordings()
    assert denied.value.status == 401
    check_error(spec, "GET", f"{PREFIX}/calls", denied.value)
    headers = {"Authorization": f"App {simulator.api_key}"}
    for bad in ({"size": "0"}, {"size": "101"}, {"page": "-1"}, {"startTimeAfter": "monday"}):
        answer = httpx.get(f"{simulator.base_url}{PREFIX}/calls", params=bad, headers=headers)
        assert answer.status_code == 400, bad
        spec.check_response(
            "GET", f"{PREFIX}/calls", 400, answer.headers["content-type"], answer.content
        )


# --- recvault's CallsSource against the simulator and the spec -----------------------------------


def row_of(recording: Any) -> Recording:
    return Recording(
        recording_id=recording.recording_id,
        source=recording.source,
        recording_status=recording.status,
        media_type=recording.media_type,
        started_at=recording.started_at,
        raw=json.loads(json.dumps(dict(recording.raw))),  # as the catalog's JSON column keeps it
    )


def test_calls_source_speaks_the_spec(
    start_simulator: StartSimulator, spec: VoiceSpec, tmp_path: Path
) -> None:
    scenario = Scenario(
        seed=5,
        calls=CallsScenario(
            count=10, drop=ConnectionFault(recordings=RecordingPick(indices=(0,)), after_bytes=1000)
        ),
    )
    with start_simulator(scenario) as sim:
        transport = SpecCheckingTransport(spec)
        source = CallsSource(
            sim.base_url,
            sim.api_key,
            transport=transport,
            page_size=3,
            file_rate_per_min=6000,
            deletion="calls-files",
        )
        with source:
            listed = list(source.list_recordings(since=WIDE_SINCE, until=WIDE_UNTIL))
            assert {r.recording_id for r in listed} == {f["id"] for f in sim.calls.files()}
            first = next(r for r in listed if r.recording_id == sim.calls.files()[0]["id"])
            download = source.download(row_of(first), tmp_path / "first.part", on_progress=None)
            assert download.sha256 == sim.calls.media_sha256(first.recording_id)
            receipt = source.delete(row_of(first))
    assert "no longer lists" in receipt.confirmed_by
    methods = {(m, status) for m, _path, status in transport.exchanges}
    assert ("GET", 206) in methods and ("DELETE", 200) in methods


# --- the check itself ----------------------------------------------------------------------------

GOOD_PAGE: dict[str, Any] = {
    "results": [
        {
            "callId": "c1",
            "endpoint": {"type": "PHONE", "phoneNumber": "447700900123"},
            "files": [
                {
                    "id": "f1",
                    "name": "f1.wav",
                    "fileFormat": "WAV",
                    "startTime": "2026-01-15T12:00:00.150+0000",
                }
            ],
        }
    ],
    "paging": {"page": 0, "size": 1, "totalPages": 1, "totalResults": 1},
}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda b: b["results"][0]["endpoint"].pop("phoneNumber"), "'phoneNumber' is a required"),
        (lambda b: b["results"][0]["files"][0].update(sizee=1), "'sizee' was unexpected"),
        (lambda b: b["results"][0]["files"][0].update(startTime="15.01.2026"), "not a 'date-time'"),
        (lambda b: b["results"][0]["files"][0].update(fileFormat="OGG"), "is not one of"),
        (lambda b: b["paging"].pop("totalPages"), "'totalPages' is a required"),
    ],
)
def test_the_spec_check_catches_a_wrong_answer(
    spec: VoiceSpec, change: Any, complaint: str
) -> None:
    spec.check_response(
        "GET", f"{PREFIX}/calls", 200, "application/json", json.dumps(GOOD_PAGE).encode()
    )
    body = json.loads(json.dumps(GOOD_PAGE))
    change(body)
    with pytest.raises(SpecViolation, match=re.escape(complaint)):
        spec.check_response(
            "GET", f"{PREFIX}/calls", 200, "application/json", json.dumps(body).encode()
        )


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("size=101", "greater than the maximum of 100"),
        ("bogus=1", "'bogus' not in the spec"),
        ("startTimeAfter=monday", "not a 'date-time'"),
        ("location=MARS", "is not one of"),
    ],
)
def test_the_spec_check_catches_a_wrong_request(
    spec: VoiceSpec, query: str, complaint: str
) -> None:
    headers = {"Authorization": "App key"}
    url = f"https://example.api.infobip.com{PREFIX}/calls"
    spec.check_request(httpx.Request("GET", f"{url}?size=100&page=0", headers=headers))
    with pytest.raises(SpecViolation, match=re.escape(complaint)):
        spec.check_request(httpx.Request("GET", f"{url}?{query}", headers=headers))
