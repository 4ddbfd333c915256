"""CallsSource: readiness rules, downloads, confirmed deletion, the plain-404 safety rule."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.errors import (
    ConfigError,
    DeletionNotConfirmed,
    DownloadIntegrityError,
    SourceAuthError,
    SourceNotFound,
)
from models.ports import Readiness, RecordingSource
from models.settings import Settings
from models.tables import Recording
from storage.infobip.calls import CallsSource
from tests.unit.calls_fakes import (
    CALLS,
    CONFERENCES,
    FILES,
    SINCE,
    UNTIL,
    call,
    file,
    group,
    legacy,
    lists,
    make_source,
    row_of,
)
from tests.unit.infobip_fakes import DroppingStream, FakeClock, pseudo_random_bytes, range_start

DATA = pseudo_random_bytes(50_000)
NOW = datetime(2026, 2, 1, 9, 30, tzinfo=UTC)


def _listed(
    entity: dict[str, Any], *, kind: str = "call", location: str | None = None
) -> Recording:
    handler = {
        "call": lambda: lists(calls=[entity]),
        "conference": lambda: lists(conferences=[entity]),
        "dialog": lambda: lists(dialogs=[entity]),
    }[kind]()
    with make_source(handler, location=location) as source:
        first = next(iter(source.list_recordings(since=SINCE, until=UNTIL)))
    return row_of(first)


def test_calls_source_is_a_recording_source() -> None:
    source: RecordingSource = make_source(lists())
    assert source.name == "calls"
    source.close()


# --- readiness -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "file_extra", "state", "reason"),
    [
        ("SUCCESSFUL", {}, Readiness.READY, None),
        ("PARTIALLY_FAILED", {}, Readiness.READY, None),
        ("FAILED", {}, Readiness.FAILED, "recording FAILED at the source: media server lost"),
        (
            "SUCCESSFUL",
            {"location": "SFTP", "sftpUploadStatus": "UPLOADED"},
            Readiness.WAITING,
            "file is delivered to SFTP (sftpUploadStatus UPLOADED)",
        ),
        ("SUCCESSFUL", {"location": None}, Readiness.WAITING, "file location not reported yet"),
        ("SUCCESSFUL", {"location": "GLACIER"}, Readiness.WAITING, "unknown file location GLACIER"),
        ("RECORDING", {}, Readiness.WAITING, "unknown status RECORDING"),
    ],
)
def test_readiness_from_the_catalog_row(
    status: str, file_extra: dict[str, Any], state: Readiness, reason: str | None
) -> None:
    entity = call("c1", [file("f1", **file_extra)], status=status, reason="media server lost")
    row = _listed(entity)
    with make_source(lists(calls=[entity])) as source:  # open rows are re-read: same answer
        report = source.readiness(row)
    assert report.state is state
    assert report.status == status
    if reason is None:
        assert report.reason is None
    else:
        assert report.reason is not None and report.reason.startswith(reason)


def test_failed_is_not_retryable_and_a_settled_row_is_not_reread() -> None:
    failed = _listed(call("c1", [file("f1")], status="FAILED"))
    ready = _listed(call("c2", [file("f2")]))
    server = lists()
    with make_source(server) as source:
        assert source.readiness(failed).retryable is False
        assert source.readiness(ready).state is Readiness.READY
    assert server.seen == []


def test_an_open_row_is_reread_and_the_source_decides() -> None:
    row = _listed(call("c1", [file("f1")], status="RECORDING"))
    server = lists(calls=[call("c1", [file("f1")], status="SUCCESSFUL")])
    with make_source(server) as source:
        report = source.readiness(row)
    assert report.state is Readiness.READY and report.status == "SUCCESSFUL"
    assert server.seen == [f"{CALLS}/c1"]


@pytest.mark.parametrize(
    ("now", "state", "reason"),
    [
        ([], Readiness.GONE, "the call recording c1 is gone"),
        ([call("c1", [file("f2")])], Readiness.GONE, "no longer lists file f1"),
        ([call("c1", [file("f1")], status="FAILED")], Readiness.FAILED, "recording FAILED"),
        ([call("c1", [file("f1", location="SFTP")])], Readiness.WAITING, "file is delivered"),
        ([call("c1", [file("f1")])], Readiness.READY, None),
    ],
)
def test_refresh_rereads_a_settled_row(
    now: list[dict[str, Any]], state: Readiness, reason: str | None
) -> None:
    row = _listed(call("c1", [file("f1")]))
    with make_source(lists(calls=now)) as source:
        report = source.readiness(row, refresh=True)
    assert report.state is state
    if reason is None:
        assert report.reason is None
    else:
        assert reason in (report.reason or "")


def test_refresh_of_a_conference_file_finds_it_among_the_participants() -> None:
    conference = group("conferenceId", "conf-1", calls=[call("leg-1", [file("f1")])])
    row = _listed(conference, kind="conference")
    failed = group("conferenceId", "conf-1", calls=[call("leg-1", [file("f1")], status="FAILED")])
    with make_source(lists(conferences=[failed])) as source:
        report = source.readiness(row, refresh=True)
    assert report.state is Readiness.FAILED and report.status == "FAILED"


def test_a_plain_404_on_the_reread_is_a_config_error() -> None:
    row = _listed(call("c1", [file("f1")]))
    with make_source(_plain_404) as source, pytest.raises(ConfigError, match="recordings/calls/"):
        source.readiness(row, refresh=True)


def test_readiness_of_a_composed_file_without_status_goes_by_location() -> None:
    row = _listed(group("conferenceId", "conf-1", composed=[file("f1")]), kind="conference")
    assert row.recording_status is None
    with make_source(lists()) as source:
        assert source.readiness(row).state is Readiness.READY


def test_readiness_of_a_recording_deleted_at_the_source_is_gone() -> None:
    row = _listed(call("c1", [file("f1")]))
    row.source_deleted_at = NOW
    with make_source(lists()) as source:
        assert source.readiness(row).state is Readiness.GONE


# --- download ------------------------------------------------------------------------------------


class FileServer:
    """Serves one file's bytes with Range; queued faults answer requests in turn."""

    def __init__(self, file_id: str, data: bytes) -> None:
        self.file_id = file_id
        self.data = data
        self.requests: list[httpx.Request] = []
        self.drop_after: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.url.path == FILES + self.file_id
        start = range_start(request) or 0
        body = self.data[start:]
        headers = {"Content-Type": "audio/wav", "Content-Length": str(len(body))}
        status = 200
        if request.headers.get("Range"):
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(self.data) - 1}/{len(self.data)}"
        if self.drop_after:
            stream = DroppingStream(body, self.drop_after.pop(0))
            return httpx.Response(status, headers=headers, stream=stream)
        return httpx.Response(status, headers=headers, content=body)


def test_download_resumes_after_a_dropped_connection(tmp_path: Path) -> None:
    row = _listed(call("c1", [file("f1", size=len(DATA))]), location="FRANKFURT")
    server = FileServer("f1", DATA)
    server.drop_after = [20_000]
    clock = FakeClock()
    progress: list[int] = []
    with make_source(server, clock) as source:
        result = source.download(row, tmp_path / "f1.part", on_progress=progress.append)
        stats = source.stats()
    assert result.sha256 == hashlib.sha256(DATA).hexdigest()
    assert result.size_bytes == len(DATA) and result.resumes == 1
    assert result.content_type == "audio/wav" and result.path.read_bytes() == DATA
    # The 20000 bytes on disk are re-read whole (within the resume overlap) and compared.
    assert [r.headers.get("Range") for r in server.requests] == [None, "bytes=0-"]
    assert result.changed_at_resume is None
    assert all(r.url.params["location"] == "FRANKFURT" for r in server.requests)
    assert progress[-1] == len(DATA)
    assert stats["resumes"] == 1 and stats["connection_errors"] == 1
    # Downloads are limited to 100 a minute, spaced evenly.
    assert sum(clock.sleeps) >= 0.6 - 1e-9


def test_download_checks_the_listed_size(tmp_path: Path) -> None:
    row = _listed(call("c1", [file("f1", size=len(DATA) + 1)]))
    with make_source(FileServer("f1", DATA)) as source, pytest.raises(DownloadIntegrityError):
        source.download(row, tmp_path / "f1.part", on_progress=None)
    assert not (tmp_path / "f1.part").exists()


def test_download_of_a_file_infobip_does_not_have_is_not_found(tmp_path: Path) -> None:
    row = _listed(call("c1", [file("f1")]))

    def handler(request: httpx.Request) -> httpx.Response:
        return legacy(404, "NOT_FOUND", "Resource was not found.")

    with make_source(handler) as source, pytest.raises(SourceNotFound):
        source.download(row, tmp_path / "f1.part", on_progress=None)


# --- safety rule: a 404 without an Infobip error body is configuration ---------------------------


def _plain_404(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        404, text="<html><body>Not Found</body></html>", headers={"Content-Type": "text/html"}
    )


def test_plain_404_on_a_list_is_a_config_error_naming_the_route() -> None:
    with make_source(_plain_404) as source, pytest.raises(ConfigError) as info:
        list(source.list_recordings(since=SINCE, until=UNTIL))
    message = str(info.value)
    assert (
        "/calls/1/recordings/conferences" in message and "without an Infobip error body" in message
    )


def test_plain_404_on_a_download_is_a_config_error(tmp_path: Path) -> None:
    row = _listed(call("c1", [file("f1")]))
    with (
        make_source(_plain_404) as source,
        pytest.raises(ConfigError, match=re.escape("files/{fileId}")),
    ):
        source.download(row, tmp_path / "f1.part", on_progress=None)


def test_plain_404_on_delete_is_a_config_error_and_nothing_is_confirmed() -> None:
    row = _listed(call("c1", [file("f1")]))
    with make_source(_plain_404) as source, pytest.raises(ConfigError, match="DELETE"):
        source.delete(row)


def test_plain_404_on_the_read_back_is_a_config_error() -> None:
    row = _listed(call("c1", [file("f1")]))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(200, json=file("f1"))
        return _plain_404(request)

    with make_source(handler) as source, pytest.raises(ConfigError, match="recordings/calls/"):
        source.delete(row)


# --- deletion ------------------------------------------------------------------------------------


class DeletingServer:
    """Answers DELETE of a file, the entity's GET, and the file's download probe."""

    def __init__(self, entity_path: str, entity: dict[str, Any] | None, file_id: str) -> None:
        self.entity_path = entity_path
        self.entity = entity
        self.file_id = file_id
        self.delete_answer = httpx.Response(200, json=file(file_id))
        self.probe_answer = legacy(404, "NOT_FOUND", "Resource was not found.")
        self.seen: list[tuple[str, str, str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.seen.append((request.method, path, request.headers.get("Range")))
        if request.method == "DELETE":
            assert path == FILES + self.file_id
            return self.delete_answer
        if path == self.entity_path:
            if self.entity is None:
                return legacy(404, "NOT_FOUND", "Resource was not found.")
            return httpx.Response(200, json=self.entity)
        assert path == FILES + self.file_id
        return self.probe_answer


def test_delete_is_confirmed_when_the_call_no_longer_lists_the_file() -> None:
    row = _listed(call("c1", [file("f1"), file("f2")]))
    server = DeletingServer(f"{CALLS}/c1", call("c1", [file("f2")]), "f1")
    with make_source(server, now=lambda: NOW) as source:
        receipt = source.delete(row)
    assert receipt.recording_id == "f1" and receipt.deleted_at == NOW
    assert "DELETE answered 200" in receipt.confirmed_by
    assert "no longer lists file f1 in call c1" in receipt.confirmed_by
    assert [(m, p) for m, p, _ in server.seen] == [("DELETE", FILES + "f1"), ("GET", f"{CALLS}/c1")]


def test_delete_of_a_conference_participant_file_reads_the_conference_back() -> None:
    conference = group("conferenceId", "conf-1", calls=[call("leg-1", [file("f1")])])
    row = _listed(conference, kind="conference")
    after = group("conferenceId", "conf-1", calls=[call("leg-1", [])])
    server = DeletingServer(f"{CONFERENCES}/conf-1", after, "f1")
    with make_source(server) as source:
        receipt = source.delete(row)
    assert "conference conf-1" in receipt.confirmed_by


def test_delete_is_confirmed_when_the_entity_is_gone() -> None:
    row = _listed(call("c1", [file("f1")]))
    server = DeletingServer(f"{CALLS}/c1", None, "f1")
    with make_source(server) as source:
        receipt = source.delete(row)
    assert "answers 404" in receipt.confirmed_by


def test_delete_is_confirmed_by_the_download_when_the_list_lags() -> None:
    row = _listed(call("c1", [file("f1")]))
    server = DeletingServer(f"{CALLS}/c1", call("c1", [file("f1")]), "f1")
    with make_source(server) as source:
        receipt = source.delete(row)
    assert "/calls/1/recordings/files/{fileId} answers 404 for file f1" in receipt.confirmed_by
    assert server.seen[-1] == ("GET", FILES + "f1", "bytes=0-0")


def test_delete_of_a_file_already_gone_is_confirmed_by_reading_back() -> None:
    row = _listed(call("c1", [file("f1")]))
    server = DeletingServer(f"{CALLS}/c1", call("c1", []), "f1")
    server.delete_answer = legacy(404, "NOT_FOUND", "Resource was not found.")
    with make_source(server) as source:
        receipt = source.delete(row)
    assert receipt.confirmed_by.startswith("DELETE answered 404 (already gone)")


def test_delete_that_cannot_be_confirmed_raises() -> None:
    row = _listed(call("c1", [file("f1")]))
    server = DeletingServer(f"{CALLS}/c1", call("c1", [file("f1")]), "f1")
    server.probe_answer = httpx.Response(
        206, content=b"R", headers={"Content-Range": "bytes 0-0/9"}
    )
    with make_source(server) as source, pytest.raises(DeletionNotConfirmed) as info:
        source.delete(row)
    assert "call c1 still lists file f1" in str(info.value)
    assert info.value.retryable


def test_delete_refused_by_infobip_is_an_auth_error_and_nothing_is_read_back() -> None:
    row = _listed(call("c1", [file("f1")]))
    server = DeletingServer(f"{CALLS}/c1", call("c1", []), "f1")
    server.delete_answer = legacy(403, "FORBIDDEN", "Forbidden")
    with make_source(server) as source, pytest.raises(SourceAuthError):
        source.delete(row)
    assert len(server.seen) == 1


# --- limits and settings -------------------------------------------------------------------------


def test_file_downloads_and_deletions_have_separate_buckets_from_lists() -> None:
    clock = FakeClock()
    row = _listed(call("c1", [file("f1")]))
    server = DeletingServer(f"{CALLS}/c1", call("c1", []), "f1")
    with make_source(server, clock, file_rate_per_min=60.0) as source:
        source.delete(row)  # one DELETE (file-delete bucket), one GET (list bucket)
        assert clock.sleeps == []
        source.delete(row)  # the DELETE waits a second for its bucket; the GET does not
        assert clock.sleeps == [pytest.approx(1.0)]


def test_from_settings_takes_the_calls_knobs() -> None:
    settings = Settings(
        infobip_base_url="https://abc.api.infobip.com",
        infobip_api_key="k" * 20,
        calls_location="FRANKFURT",
        calls_file_rate_per_min=30,
    )
    source = CallsSource.from_settings(settings)
    try:
        assert source.location == "FRANKFURT"
        assert "abc.api.infobip.com" in repr(source) and "k" * 20 not in repr(source)
    finally:
        source.close()


def test_settings_reject_a_malformed_location() -> None:
    with pytest.raises(ValueError, match="calls_location"):
        Settings(calls_location="frankfurt; drop")
