"""The simulator's HTTP surface in-process (ASGI): auth, error shapes, preparation, deletion."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from simulator.app import create_app
from simulator.scenario import RecordingPick, RequestFault, Scenario
from simulator.state import SimulatorState

META = "/ccaas/voice/2/recording/metadata"
CONFIG = "/ccaas/voice/2/account-recording-config"
KEY = "unit-key"


class SyncASGITransport(httpx.BaseTransport):
    """httpx's ASGITransport is async-only; run it on a private loop for sync tests."""

    def __init__(self, app: ASGIApp) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._loop = asyncio.new_event_loop()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def run() -> httpx.Response:
            response = await self._asgi.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self._loop.run_until_complete(run())

    def close(self) -> None:
        self._loop.close()


class AsgiClient(httpx.Client):
    def __init__(self, app: ASGIApp, headers: dict[str, str] | None = None) -> None:
        super().__init__(
            transport=SyncASGITransport(app), base_url="http://simulator", headers=headers
        )


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def legacy(message_id: str, text: str) -> dict[str, Any]:
    return {"requestError": {"serviceException": {"messageId": message_id, "text": text}}}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


MakeApi = Callable[[Scenario], tuple[AsgiClient, SimulatorState]]


@pytest.fixture
def make_api(clock: FakeClock) -> Iterator[MakeApi]:
    clients: list[AsgiClient] = []

    def make(scenario: Scenario) -> tuple[AsgiClient, SimulatorState]:
        state = SimulatorState(scenario.model_copy(update={"api_key": KEY}), clock=clock)
        client = AsgiClient(create_app(state), headers={"Authorization": f"App {KEY}"})
        clients.append(client)
        return client, state

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def api(make_api: MakeApi) -> tuple[AsgiClient, SimulatorState]:
    scenario = Scenario(
        count=12, video_ratio=0.5, prep_delay_s=10, prep_failures=RecordingPick(count=1)
    )
    return make_api(scenario)


def first(state: SimulatorState, media_type: str) -> str:
    return next(str(e["recordingId"]) for e in state.recordings() if e["mediaType"] == media_type)


def test_every_auth_form_is_accepted_and_others_get_401(
    api: tuple[AsgiClient, SimulatorState],
) -> None:
    client, state = api
    sc = state.scenario
    basic = base64.b64encode(f"{sc.username}:{sc.password}".encode()).decode()
    session = client.post(
        "/auth/1/session", json={"username": sc.username, "password": sc.password}
    )
    oauth = client.post(
        "/auth/1/oauth2/token",
        content=f"client_id={sc.username}&client_secret={sc.password}&grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert oauth.json()["token_type"] == "Bearer" and oauth.json()["expires_in"] == 3600
    good = [
        f"App {KEY}",
        f"Basic {basic}",
        f"IBSSO {session.json()['token']}",
        f"Bearer {oauth.json()['access_token']}",
    ]
    for header in good:
        assert client.get(META, headers={"Authorization": header}).status_code == 200, header
    bad = ["App wrong", f"Bearer {KEY}", f"Token {KEY}", KEY, "Basic Zm9vOmJhcg=="]
    for header in bad:
        response = client.get(META, headers={"Authorization": header})
        assert response.status_code == 401
        assert response.json() == legacy("UNAUTHORIZED", "Invalid login details")
    no_header = client.get(META, headers={"Authorization": ""})
    assert no_header.status_code == 401
    wrong_login = client.post("/auth/1/session", json={"username": sc.username, "password": "x"})
    assert wrong_login.status_code == 401
    assert state.counts()[("metadata", 401)] == len(bad) + 1


def test_metadata_page_and_400_shape(api: tuple[AsgiClient, SimulatorState]) -> None:
    client, _ = api
    page = client.get(META, params={"size": 5, "page": 1})
    assert page.status_code == 200
    assert page.json()["total"] == 12 and page.json()["totalPages"] == 3
    assert len(page.json()["elements"]) == 5
    bad = client.get(META, params={"size": 0})
    assert bad.status_code == 400
    assert bad.json() == {"status": "ERROR", "message": "size: must be greater than or equal to 1"}


def test_download_errors_use_the_status_response_shape(
    api: tuple[AsgiClient, SimulatorState],
) -> None:
    client, state = api
    missing = client.get("/ccaas/voice/2/recording/download/nope")
    assert missing.status_code == 404
    assert missing.json() == {"status": "ERROR", "message": "Recording file nope not found!"}
    video = first(state, "AUDIO_AND_VIDEO")
    unprepared = client.get(f"/ccaas/voice/2/recording/download/{video}")
    assert unprepared.status_code == 409
    assert unprepared.json() == {
        "status": "ERROR",
        "message": f"Recording {video} is not prepared for download",
    }
    audio = first(state, "AUDIO")
    bad_range = client.get(f"/ccaas/voice/2/recording/download/{audio}", headers={"Range": "x"})
    assert bad_range.status_code == 400
    assert bad_range.json() == {"status": "ERROR", "message": "Invalid range header format"}


def test_video_preparation_takes_time(
    api: tuple[AsgiClient, SimulatorState], clock: FakeClock
) -> None:
    client, state = api
    video = next(
        e["recordingId"]
        for e in state.recordings()
        if e["mediaType"] == "AUDIO_AND_VIDEO"
        and e["recordingId"] not in state.picks["prep_failures"]
    )
    path = f"/ccaas/voice/2/recording/{video}/download-preparation"
    assert client.get(path).json() == {"recordingId": video, "status": "NOT_REQUESTED"}
    requested = client.post(path)
    assert (requested.status_code, requested.json()["status"]) == (202, "PREPARING")
    clock.now += 5
    again = client.post(path)
    assert (again.status_code, again.json()["status"]) == (202, "PREPARING")
    assert client.get(path).json()["status"] == "PREPARING"
    clock.now += 5
    assert client.get(path).json() == {"recordingId": video, "status": "READY"}
    done = client.post(path)
    assert (done.status_code, done.json()["status"]) == (200, "READY")
    assert state.preparations.is_ready(state.recording(video))


def test_video_preparation_can_fail_with_a_reason(
    api: tuple[AsgiClient, SimulatorState], clock: FakeClock
) -> None:
    client, state = api
    (video,) = state.picks["prep_failures"]
    path = f"/ccaas/voice/2/recording/{video}/download-preparation"
    client.post(path)
    clock.now += 11
    body = client.get(path).json()
    assert body["status"] == "FAILED" and body["reason"] == state.scenario.prep_failure_reason
    assert client.get(f"/ccaas/voice/2/recording/download/{video}").status_code == 409


def test_preparation_of_audio_or_unknown_recordings(api: tuple[AsgiClient, SimulatorState]) -> None:
    client, state = api
    audio = first(state, "AUDIO")
    for method in ("GET", "POST"):
        response = client.request(method, f"/ccaas/voice/2/recording/{audio}/download-preparation")
        assert response.status_code == 400
        assert response.json() == {
            "status": "ERROR",
            "message": f"Recording {audio} is not a video recording",
        }
        unknown = client.request(method, "/ccaas/voice/2/recording/zzz/download-preparation")
        assert unknown.status_code == 404 and unknown.json()["status"] == "ERROR"


def test_account_switch_prepares_videos_on_their_own(
    api: tuple[AsgiClient, SimulatorState], clock: FakeClock
) -> None:
    client, state = api
    config = client.get(CONFIG).json()
    assert config["videoDownloadPreparation"] is False and config["mediaType"] == "AUDIO_AND_VIDEO"
    updated = client.put(CONFIG, json={**config, "videoDownloadPreparation": True})
    assert updated.status_code == 200 and updated.json()["videoDownloadPreparation"] is True
    assert updated.json()["enabledChangedAt"] == config["enabledChangedAt"]
    videos = [e["recordingId"] for e in state.recordings() if e["mediaType"] == "AUDIO_AND_VIDEO"]
    statuses = {
        client.get(f"/ccaas/voice/2/recording/{v}/download-preparation").json()["status"]
        for v in videos
    }
    assert statuses == {"PREPARING"}
    clock.now += 10
    statuses = {
        client.get(f"/ccaas/voice/2/recording/{v}/download-preparation").json()["status"]
        for v in videos
    }
    assert statuses == {"READY", "FAILED"}
    # Switching off keeps what the switch already prepared.
    client.put(CONFIG, json={**config, "videoDownloadPreparation": False})
    ready = [v for v in videos if v not in state.picks["prep_failures"]]
    assert all(state.preparations.is_ready(state.recording(v)) for v in ready)


def test_account_config_validation(api: tuple[AsgiClient, SimulatorState]) -> None:
    client, _ = api
    duplicate = client.post(CONFIG, json={"mediaType": "AUDIO", "inbound": True})
    assert duplicate.status_code == 400
    assert duplicate.json()["message"] == "Account recording config already exists!"
    missing = client.put(CONFIG, json={"inbound": True})
    assert missing.json() == {"status": "ERROR", "message": "mediaType: Missing Media Type"}
    neither = client.put(CONFIG, json={"mediaType": "AUDIO"})
    assert neither.status_code == 400
    not_json = client.put(CONFIG, content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    changed = client.put(CONFIG, json={"mediaType": "AUDIO", "outbound": True, "enabled": False})
    assert changed.status_code == 200
    assert changed.json()["enabled"] is False and changed.json()["inbound"] is False


def test_delete_keeps_the_element_and_removes_the_media(
    api: tuple[AsgiClient, SimulatorState],
) -> None:
    client, state = api
    audio = first(state, "AUDIO")
    deleted = client.delete(f"/ccaas/voice/2/recording/{audio}")
    assert deleted.status_code == 200
    assert deleted.json()["recordingId"] == audio
    assert isinstance(deleted.json()["deletedAt"], int) and deleted.json()["deletedBy"]
    listed = client.get(META, params={"recordingId": audio}).json()["elements"]
    assert listed[0]["deletedAt"] == deleted.json()["deletedAt"]
    assert client.get(f"/ccaas/voice/2/recording/download/{audio}").status_code == 404
    assert client.delete(f"/ccaas/voice/2/recording/{audio}").status_code == 404
    assert state.deleted_ids() == {audio}


def test_injected_429_and_5xx_bodies(make_api: MakeApi) -> None:
    scenario = Scenario(
        count=3,
        rate_limit=RequestFault(first_n=2, endpoints=("metadata",)),
        server_errors=RequestFault(first_n=3, endpoints=("metadata",)),
    )
    client, state = make_api(scenario)
    responses = [client.get(META) for _ in range(6)]
    assert [r.status_code for r in responses] == [429, 429, 500, 502, 503, 200]
    assert responses[0].json() == legacy("TOO_MANY_REQUESTS", "Too many requests")
    assert "retry-after" not in responses[0].headers
    assert responses[2].json()["requestError"]["serviceException"]["messageId"] == "GENERAL_ERROR"
    assert responses[3].headers["content-type"].startswith("text/html")
    assert client.get(CONFIG).status_code == 200, "other endpoints are not affected"
    assert state.counts()[("metadata", 429)] == 2


def test_rate_fault_hits_about_that_share_of_requests(make_api: MakeApi) -> None:
    client, _ = make_api(Scenario(count=1, rate_limit=RequestFault(rate=0.3)))
    statuses = [client.get(CONFIG).status_code for _ in range(300)]
    assert 50 < statuses.count(429) < 130
    assert set(statuses) == {200, 429}


def test_published_limits_are_enforced_when_asked(make_api: MakeApi, clock: FakeClock) -> None:
    client, _ = make_api(Scenario(count=1, enforce_rate_limits=True))
    statuses = [client.get(META).status_code for _ in range(25)]
    assert statuses[:20] == [200] * 20 and statuses[20:] == [429] * 5
    clock.now += 0.5  # 10/s refills five tokens
    statuses = [client.get(META).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_unknown_routes_and_methods(api: tuple[AsgiClient, SimulatorState]) -> None:
    client, _ = api
    unknown = client.get("/calls/1/files/x")  # uploaded audio prompts: not simulated
    assert unknown.status_code == 404
    assert unknown.json() == legacy("NOT_FOUND", "Not found")
    assert client.patch(META).status_code == 405
