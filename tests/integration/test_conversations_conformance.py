"""The simulator's Conversations recording routes against Infobip's contract, from both sides.

Every answer of the simulator on the published Conversations routes (recording metadata,
recording download, account recording configuration), in its default and its strict mode, and
every request and answer of recvault's ``InfobipClient`` and ``ConversationsSource``, are
checked against Infobip's published Conversations OpenAPI spec
(``tests/integration/infobip_spec.py``), read from ``<repo>/../shared/infobip-openapi/``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.tables import Recording
from simulator.scenario import ConnectionFault, RecordingPick, RequestFault, Scenario
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

PREFIX = "/ccaas/voice/2"
METADATA = f"{PREFIX}/recording/metadata"
CONFIG = f"{PREFIX}/account-recording-config"
WIDE_SINCE = datetime(2020, 1, 1, tzinfo=UTC)
WIDE_UNTIL = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def spec() -> ConversationsSpec:
    if not CONVERSATIONS_SPEC.is_file():
        pytest.skip(f"Infobip's Conversations spec is not at {CONVERSATIONS_SPEC} (shared/ absent)")
    return ConversationsSpec()


def scenario(*, strict: bool, **fields: Any) -> Scenario:
    values: dict[str, Any] = {
        "seed": 3,
        "count": 12,
        "video_ratio": 0.4,
        "video_download_preparation": True,
        "prep_delay_s": 0.0,
        "strict": strict,
        **fields,
    }
    return Scenario(**values)


def exchange(
    spec: ConversationsSpec,
    sim: SimulatorServer,
    method: str,
    path: str,
    *,
    api_key: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    headers = {"Authorization": f"App {api_key or sim.api_key}", **kwargs.pop("headers", {})}
    answer = httpx.request(method, f"{sim.base_url}{path}", headers=headers, **kwargs)
    media = answer.headers.get("content-type")
    body = b"" if (media or "").startswith("application/octet-stream") else answer.content
    spec.check_response(method, path, answer.status_code, media, body)
    return answer


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_every_simulator_answer_on_the_published_routes(
    start_simulator: StartSimulator, spec: ConversationsSpec, strict: bool
) -> None:
    faults = {"rate_limit": RequestFault(first_n=1, endpoints=("metadata",))}
    with start_simulator(scenario(strict=strict, **faults)) as sim:
        limited = exchange(spec, sim, "GET", METADATA, params={"size": "5"})
        assert limited.status_code == 429
        seen: list[str] = []
        page = 0
        while True:
            answer = exchange(spec, sim, "GET", METADATA, params={"page": page, "size": 5})
            assert answer.status_code == 200
            body = answer.json()
            seen += [e["recordingId"] for e in body["elements"]]
            if page + 1 >= body["totalPages"]:
                break
            page += 1
        assert len(seen) == len(sim.recordings())
        videos = exchange(spec, sim, "GET", METADATA, params={"mediaType": "AUDIO_AND_VIDEO"})
        assert videos.json()["total"] > 0
        for bad in ({"size": "0"}, {"page": "-1"}):
            assert exchange(spec, sim, "GET", METADATA, params=bad).status_code == 400
        assert exchange(spec, sim, "GET", METADATA, api_key="wrong").status_code == 401

        rid = seen[0]
        whole = exchange(spec, sim, "GET", f"{PREFIX}/recording/download/{rid}")
        assert whole.status_code == 200 and len(whole.content) == sim.media_size(rid)
        part = exchange(
            spec, sim, "GET", f"{PREFIX}/recording/download/{rid}", headers={"Range": "bytes=0-9"}
        )
        assert part.status_code == 206 and len(part.content) == 10
        missing = exchange(spec, sim, "GET", f"{PREFIX}/recording/download/no-such-recording")
        assert missing.status_code == 404

        config = exchange(spec, sim, "GET", CONFIG)
        assert config.status_code == 200
        assert config.json()["videoDownloadPreparation"] is True
        changed = {**config.json(), "autoCompose": True}
        changed.pop("enabledChangedAt")
        assert exchange(spec, sim, "PUT", CONFIG, json=changed).status_code == 200
        assert exchange(spec, sim, "POST", CONFIG, json=changed).status_code == 400
        no_media = {k: v for k, v in changed.items() if k != "mediaType"}
        assert exchange(spec, sim, "PUT", CONFIG, json=no_media).status_code == 400


def row_of(recording: Any) -> Recording:
    return Recording(
        recording_id=recording.recording_id,
        source=recording.source,
        recording_status=recording.status,
        media_type=recording.media_type,
        started_at=recording.started_at,
        filename=recording.filename,
        raw=json.loads(json.dumps(dict(recording.raw))),
    )


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_recvault_speaks_the_spec(
    start_simulator: StartSimulator, spec: ConversationsSpec, tmp_path: Path, strict: bool
) -> None:
    """Default profile (documented routes only): listing, readiness of audio and video,
    downloads with a resume, the account config and doctor's route checks."""
    drop = ConnectionFault(recordings=RecordingPick(indices=(0,)), after_bytes=1000)
    with start_simulator(scenario(strict=strict, drop=drop)) as sim:
        transport = SpecCheckingTransport(spec)
        client = InfobipClient(sim.base_url, sim.api_key, transport=transport)
        source = ConversationsSource(client)
        try:
            listed = list(source.list_recordings(since=WIDE_SINCE, until=WIDE_UNTIL))
            assert len(listed) == len(sim.recordings())
            assert not any(r.attention for r in listed)
            audio = next(r for r in listed if r.media_type == "AUDIO")
            video = next(r for r in listed if r.media_type == "AUDIO_AND_VIDEO")
            for recording in (audio, video):
                row = row_of(recording)
                assert source.readiness(row, refresh=True).state == "READY"
                got = source.download(row, tmp_path / recording.recording_id, on_progress=None)
                assert got.sha256 == sim.media_sha256(recording.recording_id)
            first = row_of(listed[0])
            resumed = source.download(first, tmp_path / "first", on_progress=None)
            assert resumed.sha256 == sim.media_sha256(first.recording_id)
            assert client.get_account_recording_config().video_download_preparation is True
            checks = client.check_routes()
            assert {c.route for c in checks} == {"metadata", "download", "account_config"}
            assert all(c.confirmed for c in checks)
        finally:
            source.close()
    statuses = {(method, status) for method, _path, status in transport.exchanges}
    assert {("GET", 200), ("GET", 206), ("GET", 404)} <= statuses
    assert sim.count("prepare") == sim.count("delete") == 0


# --- the check itself ----------------------------------------------------------------------------

GOOD_PAGE: dict[str, Any] = {
    "elements": [
        {
            "id": 1,
            "recordingId": "r1",
            "conversationId": "c1",
            "recordingStatus": "SUCCESSFUL",
            "mediaType": "AUDIO",
            "startedAt": 1686585221999,
            "deletedAt": None,
        }
    ],
    "total": 1,
    "totalPages": 1,
}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda b: b["elements"][0].update(recordingIdd="x"), "'recordingIdd' was unexpected"),
        (lambda b: b["elements"][0].update(startedAt="yesterday"), "is not of type 'integer'"),
        (lambda b: b["elements"][0].update(deletedAt="soon"), "is not valid under any"),
        (lambda b: b["elements"][0].update(composed="yes"), "is not of type 'boolean'"),
        (lambda b: b.pop("totalPages"), "'totalPages' is a required"),
        (lambda b: b.update(results=[]), "'results' was unexpected"),
    ],
)
def test_the_spec_check_catches_a_wrong_answer(
    spec: ConversationsSpec, change: Any, complaint: str
) -> None:
    spec.check_response("GET", METADATA, 200, "application/json", json.dumps(GOOD_PAGE).encode())
    body = json.loads(json.dumps(GOOD_PAGE))
    change(body)
    with pytest.raises(SpecViolation, match=re.escape(complaint)):
        spec.check_response("GET", METADATA, 200, "application/json", json.dumps(body).encode())


def test_the_spec_check_knows_no_unpublished_route(spec: ConversationsSpec) -> None:
    for method, path in (
        ("POST", f"{PREFIX}/recording/r1/download-preparation"),
        ("DELETE", f"{PREFIX}/recording/r1"),
    ):
        with pytest.raises(SpecViolation, match="no such operation"):
            spec.operation(method, path)
    with pytest.raises(SpecViolation, match="status not documented"):
        spec.check_response("GET", f"{PREFIX}/recording/download/r1", 409, None, b"")


def test_the_spec_check_catches_a_wrong_request(spec: ConversationsSpec) -> None:
    url = f"https://example.api.infobip.com{METADATA}"
    headers = {"Authorization": "App key"}
    spec.check_request(httpx.Request("GET", f"{url}?size=999&startedAtFrom=1", headers=headers))
    for query, complaint in (
        ("size=1000", "greater than the maximum of 999"),
        ("startedAtFrom=yesterday", "is not an integer"),
        ("sortDirection=UP", "is not one of"),
        ("bogus=1", "'bogus' not in the spec"),
    ):
        with pytest.raises(SpecViolation, match=re.escape(complaint)):
            spec.check_request(httpx.Request("GET", f"{url}?{query}", headers=headers))
