"""``ConversationsSource`` under each source profile (docs/infobip.md).

A fake Infobip (a ``MockTransport`` handler over a dict of elements) answers as the published
API does: Infobip's own 404 body for a recording it lacks, a plain 404 for a route it lacks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.errors import (
    ConfigError,
    DeletionNotConfirmed,
    RecordingNotReady,
    SourceDeletionUnavailable,
)
from models.ports import Readiness
from models.tables import Recording
from storage.infobip.calls import CallsSource
from storage.infobip.client import InfobipPaths
from storage.infobip.conversations import (
    ATTENTION_ID,
    ATTENTION_MEDIA,
    ATTENTION_STATUS,
    ATTENTION_SWITCH,
    ConversationsSource,
)
from tests.fixtures.profile import HYPOTHESIS_PATHS
from tests.unit.infobip_fakes import API_KEY, BASE_URL, FakeClock, make_client

STARTED_MS = 1767603600000
META = "/ccaas/voice/2/recording/metadata"
DOWNLOAD = "/ccaas/voice/2/recording/download/"
CONFIG = "/ccaas/voice/2/account-recording-config"
DELETE = "/ccaas/voice/2/recording/"


def element(rid: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "recordingId": rid,
        "conversationId": "conv-1",
        "callId": f"call-{rid}",
        "recordingStatus": "SUCCESSFUL",
        "mediaType": "AUDIO",
        "startedAt": STARTED_MS,
        "filename": f"{rid}.wav",
        **fields,
    }


def row(rid: str, **fields: Any) -> Recording:
    values: dict[str, Any] = {
        "recording_id": rid,
        "started_at": datetime(2026, 1, 5, 9, tzinfo=UTC),
        "recording_status": "SUCCESSFUL",
        "media_type": "AUDIO",
        "call_id": f"call-{rid}",
        "filename": f"{rid}.wav",
        **fields,
    }
    return Recording(**values)


def not_found(rid: str) -> httpx.Response:
    return httpx.Response(404, json={"status": "ERROR", "message": f"Recording {rid} not found!"})


def gateway_404() -> httpx.Response:
    return httpx.Response(404, text="<html><h1>404 Not Found</h1></html>", headers={"X": "gw"})


class FakeInfobip:
    """Elements, which of them serve media, the account switch, and a DELETE route or not."""

    def __init__(self, *elements: dict[str, Any]) -> None:
        self.elements = {e["recordingId"]: e for e in elements}
        self.served: set[str] = set(self.elements)
        self.switch: bool | None = True
        self.delete_route = True
        self.delete_marks = True  # a DELETE sets deletedAt (else it answers and does nothing)
        self.requests: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests.append((request.method, path))
        if path == META:
            rid = request.url.params.get("recordingId")
            found = [e for e in self.elements.values() if rid in (None, e["recordingId"])]
            return httpx.Response(200, json={"elements": found, "total": len(found)})
        if path.startswith(DOWNLOAD):
            rid = path.removeprefix(DOWNLOAD)
            if rid not in self.served:
                return not_found(rid)
            return httpx.Response(206, content=b"R", headers={"Content-Range": "bytes 0-0/9"})
        if path == CONFIG:
            config: dict[str, Any] = {"mediaType": "AUDIO_AND_VIDEO", "enabled": True}
            if self.switch is not None:
                config["videoDownloadPreparation"] = self.switch
            return httpx.Response(200, json=config)
        if request.method == "DELETE" and path.startswith(DELETE) and self.delete_route:
            rid = path.removeprefix(DELETE)
            if rid not in self.elements:
                return not_found(rid)
            if self.delete_marks:
                self.elements[rid]["deletedAt"] = STARTED_MS + 1000
                self.served.discard(rid)
            return httpx.Response(200, json=self.elements[rid])
        return gateway_404()


def source(fake: FakeInfobip, paths: InfobipPaths = HYPOTHESIS_PATHS, **kwargs: Any) -> Any:
    return ConversationsSource(make_client(fake, paths=paths), **kwargs)


# --- the default profile -------------------------------------------------------------------------


def test_defaults_are_the_documented_behaviour() -> None:
    src = ConversationsSource(make_client(FakeInfobip(), paths=InfobipPaths()))
    assert (src.video_readiness, src.deletion) == ("account", "off")
    assert src.client.paths.preparation is None and src.client.paths.delete is None
    assert "source deletion is off" in (src.deletion_unavailable() or "")


def test_video_ready_when_the_download_serves_media_no_trigger_sent() -> None:
    fake = FakeInfobip(element("v1", mediaType="AUDIO_AND_VIDEO"))
    report = source(fake).readiness(row("v1", media_type="AUDIO_AND_VIDEO"))
    assert report.state is Readiness.READY
    assert ("GET", f"{DOWNLOAD}v1") in fake.requests
    assert not any("preparation" in path for _, path in fake.requests)


def test_video_not_served_yet_is_preparing_while_the_switch_is_on() -> None:
    fake = FakeInfobip(element("v1", mediaType="AUDIO_AND_VIDEO"))
    fake.served.clear()
    report = source(fake).readiness(row("v1", media_type="AUDIO_AND_VIDEO"))
    assert report.state is Readiness.PREPARING
    assert report.attention is None


def test_video_waits_with_attention_while_the_switch_is_off() -> None:
    fake = FakeInfobip(element("v1", mediaType="AUDIO_AND_VIDEO"))
    fake.served.clear()
    fake.switch = False
    report = source(fake).readiness(row("v1", media_type="AUDIO_AND_VIDEO"))
    assert report.state is Readiness.WAITING
    assert report.attention == ATTENTION_SWITCH
    assert "videoDownloadPreparation is off" in (report.reason or "")


def test_video_download_404_under_the_switch_is_not_ready_not_gone(tmp_path: Path) -> None:
    fake = FakeInfobip(element("v1", mediaType="AUDIO_AND_VIDEO"))
    fake.served.clear()
    with pytest.raises(RecordingNotReady):
        source(fake).download(
            row("v1", media_type="AUDIO_AND_VIDEO"), tmp_path / "v.mp4", on_progress=None
        )


def test_video_deleted_at_the_source_is_gone() -> None:
    fake = FakeInfobip(element("v1", mediaType="AUDIO_AND_VIDEO", deletedAt=STARTED_MS + 5))
    fake.served.clear()
    report = source(fake).readiness(row("v1", media_type="AUDIO_AND_VIDEO"))
    assert report.state is Readiness.GONE


# --- unknown answers ----------------------------------------------------------------------------


def test_unknown_recording_status_waits_with_attention() -> None:
    fake = FakeInfobip(element("a1", recordingStatus="TRANSMOGRIFYING"))
    report = source(fake).readiness(row("a1", recording_status="TRANSMOGRIFYING"))
    assert report.state is Readiness.WAITING
    assert report.attention == ATTENTION_STATUS
    assert "TRANSMOGRIFYING" in (report.reason or "")


def test_known_pending_status_waits_without_attention() -> None:
    fake = FakeInfobip(element("a1", recordingStatus="IN_PROGRESS"))
    report = source(fake).readiness(row("a1", recording_status="IN_PROGRESS"))
    assert report.state is Readiness.WAITING and report.attention is None


def test_unknown_media_type_waits_with_attention() -> None:
    fake = FakeInfobip(element("a1", mediaType="HOLOGRAM"))
    report = source(fake).readiness(row("a1", media_type="HOLOGRAM"))
    assert report.state is Readiness.WAITING and report.attention == ATTENTION_MEDIA


@pytest.mark.parametrize("bad_id", ["seven", 7.5, None, "missing"])
def test_metadata_id_of_any_kind_never_drops_the_recording(bad_id: object) -> None:
    fields: dict[str, Any] = {} if bad_id == "missing" else {"id": bad_id}
    raw = element("a1", **fields)
    if bad_id == "missing":
        del raw["id"]
    fake = FakeInfobip(raw)
    listed = list(
        source(fake).list_recordings(
            since=datetime(2026, 1, 1, tzinfo=UTC), until=datetime(2026, 2, 1, tzinfo=UTC)
        )
    )
    assert [r.recording_id for r in listed] == ["a1"]
    integer = bad_id in (None, "missing")
    assert listed[0].attention == (None if integer else ATTENTION_ID)


def test_an_undocumented_status_code_is_an_unexpected_answer() -> None:
    from models.errors import SourceUnexpectedAnswer

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(418, json={"status": "ERROR", "message": "I am a teapot"})

    with pytest.raises(SourceUnexpectedAnswer, match="418"):
        source(handler).readiness(row("a1", recording_status="IN_PROGRESS"))  # type: ignore[arg-type]


# --- missing routes ------------------------------------------------------------------------------


def test_a_missing_metadata_route_is_a_config_error_naming_the_setting() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return gateway_404()

    src = ConversationsSource(make_client(handler, paths=InfobipPaths(metadata="/wrong/metadata")))
    with pytest.raises(ConfigError, match="RECVAULT_INFOBIP_METADATA_PATH"):
        src.readiness(row("a1", recording_status="IN_PROGRESS"))


def test_a_missing_download_route_is_a_config_error_not_a_missing_recording(
    tmp_path: Path,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return gateway_404()

    with pytest.raises(ConfigError, match="RECVAULT_INFOBIP_DOWNLOAD_PATH"):
        source(handler).download(row("a1"), tmp_path / "a.wav", on_progress=None)  # type: ignore[arg-type]


# --- deletion ------------------------------------------------------------------------------------


def test_deletion_off_deletes_nothing() -> None:
    fake = FakeInfobip(element("a1"))
    with pytest.raises(SourceDeletionUnavailable, match="source deletion is off"):
        source(fake).delete(row("a1"))
    assert not any(method == "DELETE" for method, _ in fake.requests)


def test_ccaas_deletion_confirmed_by_deleted_at() -> None:
    fake = FakeInfobip(element("a1"))
    receipt = source(fake, deletion="ccaas").delete(row("a1"))
    assert "metadata shows deletedAt" in receipt.confirmed_by
    assert receipt.deleted_at is not None


def test_ccaas_deletion_of_an_element_gone_and_not_served_is_confirmed() -> None:
    fake = FakeInfobip(element("a1"))
    fake.elements.clear()
    fake.served.clear()
    receipt = source(fake, deletion="ccaas").delete(row("a1"))
    assert "download answers an Infobip 404" in receipt.confirmed_by


def test_ccaas_deletion_not_shown_by_the_source_is_not_confirmed() -> None:
    fake = FakeInfobip(element("a1"))
    fake.delete_marks = False
    with pytest.raises(DeletionNotConfirmed):
        source(fake, deletion="ccaas").delete(row("a1"))


def test_ccaas_deletion_gone_from_metadata_but_still_served_is_not_confirmed() -> None:
    fake = FakeInfobip(element("a1"))
    fake.delete_marks = False
    fake.elements.clear()
    with pytest.raises(DeletionNotConfirmed, match="still serves media"):
        source(fake, deletion="ccaas").delete(row("a1"))


def test_ccaas_route_answering_a_plain_404_is_a_config_error() -> None:
    fake = FakeInfobip(element("a1"))
    fake.delete_route = False
    with pytest.raises(ConfigError, match="RECVAULT_INFOBIP_DELETE_PATH"):
        source(fake, deletion="ccaas").delete(row("a1"))


def _calls_handler(files: list[dict[str, Any]], deleted: list[str]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/calls/1/recordings/calls/"):
            live = [f for f in files if f["id"] not in deleted]
            return httpx.Response(200, json={"callId": "call-a1", "files": live})
        if request.method == "DELETE" and path.startswith("/calls/1/recordings/files/"):
            file_id = path.rsplit("/", 1)[1]
            deleted.append(file_id)
            return httpx.Response(200, json={"id": file_id, "name": "x", "fileFormat": "WAV"})
        if path.startswith("/calls/1/recordings/conferences/"):
            return httpx.Response(
                404, json={"requestError": {"serviceException": {"messageId": "NOT_FOUND"}}}
            )
        return gateway_404()

    return handler


def _calls(handler: Any) -> CallsSource:
    clock = FakeClock()
    return CallsSource(
        BASE_URL,
        API_KEY,
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock,
        deletion="calls-files",
    )


def test_calls_files_deletion_of_a_mapped_recording_is_confirmed_at_the_calls_api() -> None:
    deleted: list[str] = []
    files = [{"id": "file-9", "name": "a1.wav", "fileFormat": "WAV", "location": "HOSTED"}]
    calls = _calls(_calls_handler(files, deleted))
    src = source(FakeInfobip(element("a1")), deletion="calls-files", calls_files=calls)
    receipt = src.delete(row("a1"))
    assert deleted == ["file-9"]
    assert receipt.confirmed_by.startswith("Calls API file file-9: DELETE answered 200")
    assert "no longer lists file file-9" in receipt.confirmed_by


def test_calls_files_deletion_without_a_mapping_stays_due() -> None:
    deleted: list[str] = []
    files = [{"id": "file-9", "name": "other.wav", "fileFormat": "WAV", "location": "HOSTED"}]
    calls = _calls(_calls_handler(files, deleted))
    src = source(FakeInfobip(element("a1")), deletion="calls-files", calls_files=calls)
    with pytest.raises(SourceDeletionUnavailable, match="no Calls API file maps to it"):
        src.delete(row("a1"))
    assert deleted == []
