"""Section 9 calls (preparation, deletion), account config, path overrides, use from threads."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import httpx
import pytest

from models.errors import SourceBadRequest, SourceNotFound, SourceServerError
from models.source import PreparationState
from storage.infobip.client import InfobipPaths
from tests.unit.infobip_fakes import MediaServer, make_client, pseudo_random_bytes

PREP = "/ccaas/voice/2/recording/vid-1/download-preparation"


def test_request_preparation_accepted_and_already_ready() -> None:
    answers = iter(
        [
            httpx.Response(202, json={"recordingId": "vid-1", "status": "PREPARING"}),
            httpx.Response(200, json={"recordingId": "vid-1", "status": "READY"}),
        ]
    )
    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        return next(answers)

    with make_client(handler) as client:
        first = client.request_video_preparation("vid-1")
        second = client.request_video_preparation("vid-1")
    assert first.status is PreparationState.PREPARING and first.recording_id == "vid-1"
    assert second.status is PreparationState.READY
    assert seen == [("POST", PREP), ("POST", PREP)]


def test_poll_preparation_reads_failure_reason() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("GET", PREP)
        body = {"recordingId": "vid-1", "status": "FAILED", "reason": "transcoder crashed"}
        return httpx.Response(200, json=body)

    with make_client(handler) as client:
        status = client.get_video_preparation("vid-1")
    assert status.status is PreparationState.FAILED and status.reason == "transcoder crashed"


def test_preparation_of_audio_is_bad_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"status": "ERROR", "message": "Recording aud-1 is not a video recording"}
        return httpx.Response(400, json=body)

    with make_client(handler) as client, pytest.raises(SourceBadRequest, match="not a video"):
        client.request_video_preparation("aud-1")


def test_unexpected_preparation_shape_is_a_server_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"recordingId": "vid-1", "status": "SOMETHING_NEW"})

    with make_client(handler) as client, pytest.raises(SourceServerError, match="not a valid"):
        client.get_video_preparation("vid-1")


def test_delete_returns_element_with_deleted_at() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ccaas/voice/2/recording/gone":
            return httpx.Response(
                404, json={"status": "ERROR", "message": "Recording gone not found"}
            )
        assert (request.method, request.url.path) == ("DELETE", "/ccaas/voice/2/recording/rec-1")
        element = {
            "recordingId": "rec-1",
            "startedAt": 1686585221999,
            "deletedAt": 1700000000000,
            "deletedBy": "recvault",
        }
        return httpx.Response(200, json=element)

    with make_client(handler) as client:
        deleted = client.delete_recording("rec-1")
        with pytest.raises(SourceNotFound):
            client.delete_recording("gone")
    assert deleted is not None
    assert deleted.deleted_at == 1700000000000 and deleted.deleted_by == "recvault"


def test_account_recording_config() -> None:
    body = {
        "inbound": True,
        "outbound": True,
        "autoCompose": False,
        "mediaType": "AUDIO_AND_VIDEO",
        "enabled": True,
        "enabledChangedAt": 1686585221999,
        "videoDownloadPreparation": True,
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    with make_client(handler) as client:
        config = client.get_account_recording_config()
    assert config.media_type == "AUDIO_AND_VIDEO" and config.video_download_preparation is True
    assert config.enabled_changed_at == 1686585221999


def test_paths_are_overridable() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={"recordingId": "v", "status": "READY"})

    paths = InfobipPaths(preparation="/custom/{recording_id}/prepare")
    with make_client(handler, paths=paths) as client:
        client.get_video_preparation("v")
    assert seen == ["/custom/v/prepare"]


def test_one_client_shared_by_threads(tmp_path: Path) -> None:
    data = pseudo_random_bytes(300_000)
    media = MediaServer(data)

    def handler(request: httpx.Request) -> httpx.Response:
        if "download" in request.url.path:
            return media.serve(
                request, drop_after=100_000 if request.headers.get("Range") is None else None
            )
        return httpx.Response(200, json={"enabled": True})

    failures: list[BaseException] = []
    digests: list[str] = []
    lock = threading.Lock()
    with make_client(handler) as client:

        def worker(n: int) -> None:
            try:
                for i in range(5):
                    client.get_account_recording_config()
                    result = client.download("rec-1", tmp_path / f"{n}-{i}.wav")
                    with lock:
                        digests.append(result.sha256)
            except BaseException as exc:
                failures.append(exc)

        pool = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        stats = client.stats
    assert failures == []
    assert digests == [hashlib.sha256(data).hexdigest()] * 30
    assert stats.requests == 30 + 30 * 2 and stats.resumes == 30
    # Each resume re-reads the 100 kB already on disk (all of it is within the overlap).
    assert stats.bytes_downloaded == 30 * (len(data) + 100_000)
