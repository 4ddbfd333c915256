"""Downloads: streaming hash, Range resume, partial files, misbehaving servers, size checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from models.errors import (
    DownloadIntegrityError,
    RecordingNotReady,
    SourceNotFound,
    SourceUnavailable,
)
from storage.infobip.client import CHUNK_BYTES
from storage.infobip.download import RESUME_OVERLAP_BYTES as OVERLAP
from tests.unit.infobip_fakes import (
    FakeClock,
    MediaServer,
    UnsizedStream,
    make_client,
    pseudo_random_bytes,
    range_start,
)

DATA = pseudo_random_bytes(3 * CHUNK_BYTES + 12_345)
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "work" / "rec-1.wav"


def test_plain_download_hashes_while_streaming(dest: Path) -> None:
    server = MediaServer(DATA)
    progress: list[int] = []
    with make_client(server) as client:
        result = client.download(
            "rec-1", dest, expected_size_bytes=len(DATA), on_progress=progress.append
        )
        stats = client.stats
    assert result.sha256 == SHA == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert (result.size_bytes, result.resumes, result.path) == (len(DATA), 0, dest)
    assert result.content_type == "audio/wav"
    assert progress[-1] == len(DATA) and progress == sorted(progress)
    assert stats.bytes_downloaded == len(DATA) and stats.resumes == 0
    request = server.requests[0]
    assert request.headers["Accept"] == "application/octet-stream"
    assert "Range" not in request.headers


def test_connection_dropped_mid_body_resumes_with_range(dest: Path) -> None:
    clock = FakeClock()
    server = MediaServer(DATA)
    cut = CHUNK_BYTES + 777
    server.faults = [lambda request: server.serve(request, drop_after=cut)]
    with make_client(server, clock) as client:
        result = client.download("rec-1", dest)
        stats = client.stats
    assert result.sha256 == SHA and result.size_bytes == len(DATA)
    assert result.resumes == 1 and stats.resumes == 1 and stats.connection_errors == 1
    assert result.changed_at is None
    # The resume re-reads the overlap before its offset, compares it, then continues.
    assert [range_start(r) for r in server.requests] == [None, cut - OVERLAP]
    assert stats.bytes_downloaded == len(DATA) + OVERLAP
    assert len(clock.sleeps) == 1


def test_short_body_without_error_resumes(dest: Path) -> None:
    """Content-Length promises more than arrives and the stream just ends."""
    server = MediaServer(DATA)

    def short(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Length": str(len(DATA)), "Content-Type": "audio/wav"}
        return httpx.Response(200, headers=headers, content=DATA[:1000])

    server.faults = [short]
    with make_client(server) as client:
        result = client.download("rec-1", dest)
    assert result.sha256 == SHA and result.resumes == 1 and result.changed_at is None
    # A partial file smaller than the overlap is re-read and compared whole.
    assert [range_start(r) for r in server.requests] == [None, 0]


def test_several_drops_each_resume_from_the_bytes_written(dest: Path) -> None:
    server = MediaServer(DATA)
    step = 300_000
    first = OVERLAP + step
    server.faults = [lambda request: server.serve(request, drop_after=first)] * 5
    with make_client(server, max_retries=2) as client:
        result = client.download("rec-1", dest)
    # Each drop made progress past the overlap, so five resumes fit although max_retries is 2.
    assert result.sha256 == SHA and result.resumes == 5 and result.changed_at is None
    sizes = [first + step * k for k in range(5)]
    assert [range_start(r) for r in server.requests] == [None, *[n - OVERLAP for n in sizes]]


def test_drops_without_progress_exhaust_retries(dest: Path) -> None:
    server = MediaServer(DATA)
    server.faults = [lambda request: server.serve(request, drop_after=0)] * 10
    with make_client(server, max_retries=3) as client, pytest.raises(SourceUnavailable):
        client.download("rec-1", dest)
    assert len(server.requests) == 4


def test_existing_partial_file_is_hashed_and_resumed(dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    dest.write_bytes(DATA[:2_000_000])
    server = MediaServer(DATA)
    with make_client(server) as client:
        result = client.download("rec-1", dest, expected_size_bytes=len(DATA))
        stats = client.stats
    assert result.sha256 == SHA and dest.read_bytes() == DATA
    assert [range_start(r) for r in server.requests] == [2_000_000 - OVERLAP]
    assert result.resumes == 1 and result.changed_at is None
    assert stats.bytes_downloaded == len(DATA) - 2_000_000 + OVERLAP


def test_server_ignoring_range_restarts_from_zero(dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"stale bytes from some earlier attempt")
    server = MediaServer(DATA)
    server.faults = [lambda request: httpx.Response(200, content=DATA)]
    with make_client(server) as client:
        result = client.download("rec-1", dest)
    assert result.sha256 == SHA and dest.read_bytes() == DATA
    assert len(server.requests) == 1 and range_start(server.requests[0]) == 0
    assert result.changed_at is None  # no validator was sent: nothing is known to have changed


def test_416_with_complete_local_file_is_done(dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    dest.write_bytes(DATA)
    server = MediaServer(DATA)
    with make_client(server) as client:
        result = client.download("rec-1", dest, expected_size_bytes=len(DATA))
    assert result.sha256 == SHA and result.size_bytes == len(DATA)
    assert len(server.requests) == 1


def test_416_on_a_wrong_partial_file_restarts_once(dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"x" * 100)
    server = MediaServer(DATA)
    server.faults = [
        lambda request: httpx.Response(416, json={"status": "ERROR", "message": "bad"})
    ]
    with make_client(server) as client:
        result = client.download("rec-1", dest)
    assert result.sha256 == SHA
    assert [range_start(r) for r in server.requests] == [0, None]


def test_repeated_416_is_an_integrity_error(dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"x" * 100)
    server = MediaServer(DATA)
    server.faults = [lambda request: httpx.Response(416)] * 3
    with make_client(server) as client, pytest.raises(DownloadIntegrityError):
        client.download("rec-1", dest)
    assert len(server.requests) == 2
    assert not dest.exists()


def test_content_range_not_at_offset_is_rejected(dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    dest.write_bytes(DATA[:2_000_000])
    server = MediaServer(DATA)
    headers = {"Content-Range": f"bytes 0-{len(DATA) - 1}/{len(DATA)}"}
    server.faults = [lambda request: httpx.Response(206, headers=headers, content=DATA)]
    with make_client(server) as client, pytest.raises(DownloadIntegrityError) as info:
        client.download("rec-1", dest)
    assert "Content-Range starts at 0" in str(info.value)


@pytest.mark.parametrize("declared", [len(DATA) - 1, len(DATA) + 1])
def test_expected_size_mismatch_raises_and_discards_the_file(dest: Path, declared: int) -> None:
    server = MediaServer(DATA)
    with make_client(server) as client, pytest.raises(DownloadIntegrityError) as info:
        client.download("rec-1", dest, expected_size_bytes=declared)
    assert str(declared) in str(info.value)
    assert not dest.exists()


def test_expected_size_mismatch_without_content_length(dest: Path) -> None:
    """A chunked body (no length headers) that is longer than the catalog says."""
    server = MediaServer(DATA)
    server.faults = [lambda request: httpx.Response(200, stream=UnsizedStream(DATA))]
    with make_client(server) as client, pytest.raises(DownloadIntegrityError):
        client.download("rec-1", dest, expected_size_bytes=len(DATA) - 10)
    assert not dest.exists()


def test_unsized_body_shorter_than_expected_resumes(dest: Path) -> None:
    server = MediaServer(DATA)
    server.faults = [lambda request: httpx.Response(200, stream=UnsizedStream(DATA[:4096]))]
    with make_client(server) as client:
        result = client.download("rec-1", dest, expected_size_bytes=len(DATA))
    assert result.sha256 == SHA and result.resumes == 1


def test_body_longer_than_content_length_is_rejected(dest: Path) -> None:
    server = MediaServer(DATA)
    lying = {"Content-Length": "10"}
    server.faults = [lambda request: httpx.Response(200, headers=lying, stream=UnsizedStream(DATA))]
    with make_client(server) as client, pytest.raises(DownloadIntegrityError):
        client.download("rec-1", dest)


def test_not_prepared_video_is_not_ready(dest: Path) -> None:
    body = {"status": "ERROR", "message": "Recording rec-1 is not prepared for download"}
    server = MediaServer(DATA)
    server.faults = [lambda request: httpx.Response(409, json=body)] * 3
    with make_client(server) as client, pytest.raises(RecordingNotReady) as info:
        client.download("rec-1", dest)
    assert "not prepared for download" in str(info.value)
    assert len(server.requests) == 1


def test_missing_recording_is_not_found(dest: Path) -> None:
    body = {"status": "ERROR", "message": "Recording file rec-1 not found!"}
    server = MediaServer(DATA)
    server.faults = [lambda request: httpx.Response(404, json=body)]
    with make_client(server) as client, pytest.raises(SourceNotFound):
        client.download("rec-1", dest)


def test_rate_limited_and_server_errors_are_retried_for_downloads(dest: Path) -> None:
    clock = FakeClock()
    server = MediaServer(DATA)
    too_many = {"requestError": {"serviceException": {"messageId": "TOO_MANY_REQUESTS"}}}
    server.faults = [
        lambda request: httpx.Response(429, json=too_many, headers={"Retry-After": "2"}),
        lambda request: httpx.Response(503, text="unavailable"),
    ]
    with make_client(server, clock) as client:
        result = client.download("rec-1", dest)
        stats = client.stats
    assert result.sha256 == SHA and result.resumes == 0
    assert clock.sleeps[0] == 2.0 and len(clock.sleeps) == 2
    assert (stats.rate_limited, stats.server_errors, stats.requests) == (1, 1, 3)


def test_recording_id_is_escaped_in_the_path(dest: Path) -> None:
    server = MediaServer(DATA, recording_id="a/b")
    with make_client(server) as client:
        client.download("a/b", dest)
    assert server.requests[0].url.raw_path == b"/ccaas/voice/2/recording/download/a%2Fb"


def test_failure_before_any_byte_leaves_no_empty_file(dest: Path) -> None:
    server = MediaServer(DATA)
    server.faults = [lambda request: httpx.Response(404, json={"status": "ERROR"})]
    with make_client(server) as client, pytest.raises(SourceNotFound):
        client.download("rec-1", dest)
    assert not dest.exists()


def test_partial_file_is_kept_for_a_later_resume(dest: Path) -> None:
    server = MediaServer(DATA)
    unavailable = httpx.Response(503, json={"errorCode": "E503"})
    server.faults = [lambda request: server.serve(request, drop_after=70_000)]
    server.faults += [lambda request: unavailable] * 5
    with make_client(server, max_retries=3) as client, pytest.raises(SourceUnavailable):
        client.download("rec-1", dest)
    assert dest.read_bytes() == DATA[:70_000]
    with make_client(MediaServer(DATA)) as client:
        result = client.download("rec-1", dest)
    assert result.sha256 == SHA and result.resumes == 1
