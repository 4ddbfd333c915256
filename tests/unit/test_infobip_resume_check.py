"""A resumed download is checked without a second download: an overlap re-read before the
resume offset is compared with the file, and ``If-Range`` carries the source's validator."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from storage.infobip.download import RESUME_OVERLAP_BYTES as OVERLAP
from tests.unit.infobip_fakes import MediaServer, make_client, pseudo_random_bytes, range_start

BEFORE = pseudo_random_bytes(3 * OVERLAP, seed=1)
AFTER = pseudo_random_bytes(3 * OVERLAP, seed=2)  # the same size: only the bytes changed
CUT = 2 * OVERLAP + 4321


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "work" / "rec-1.wav"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _first_then(server: MediaServer, *, headers: dict[str, str] | None = None) -> None:
    """The first response serves BEFORE and drops at CUT; later ones serve AFTER."""

    def first(request: httpx.Request) -> httpx.Response:
        response = server.serve(request, drop_after=CUT)
        response.headers.update(headers or {})
        server.data = AFTER
        return response

    server.faults = [first]


def test_bytes_changed_between_responses_are_reported_with_the_resume_offset(
    dest: Path,
) -> None:
    server = MediaServer(BEFORE)
    _first_then(server)
    with make_client(server) as client:
        result = client.download("rec-1", dest)
    assert result.changed_at == CUT and result.resumes == 1
    # The file is the stitch (what the pipeline quarantines after a separate download).
    assert result.sha256 == _sha(BEFORE[:CUT] + AFTER[CUT:])
    assert len(server.requests) == 2  # no second full download inside the client


def test_unchanged_bytes_resume_without_reading_the_file_twice(dest: Path) -> None:
    server = MediaServer(BEFORE)
    server.faults = [lambda request: server.serve(request, drop_after=CUT)]
    with make_client(server) as client:
        result = client.download("rec-1", dest)
        stats = client.stats
    assert result.changed_at is None and result.sha256 == _sha(BEFORE)
    assert [range_start(r) for r in server.requests] == [None, CUT - OVERLAP]
    assert stats.bytes_downloaded == len(BEFORE) + OVERLAP  # the file once, plus the overlap


def test_a_strong_etag_is_sent_as_if_range_and_a_full_answer_means_changed(
    dest: Path,
) -> None:
    server = MediaServer(BEFORE)
    _first_then(server, headers={"ETag": '"v1"'})
    changed = server.faults[0]

    def ignore_range(request: httpx.Request) -> httpx.Response:
        # The validator no longer matches: the whole new version, as RFC 9110 says.
        return httpx.Response(200, headers={"ETag": '"v2"'}, content=AFTER)

    server.faults = [changed, ignore_range]
    with make_client(server) as client:
        result = client.download("rec-1", dest)
    assert server.requests[1].headers["If-Range"] == '"v1"'
    assert result.changed_at == CUT
    assert result.sha256 == _sha(AFTER) and dest.read_bytes() == AFTER


@pytest.mark.parametrize(
    ("headers", "if_range"),
    [
        ({"ETag": 'W/"weak"', "Last-Modified": "Mon, 05 Jan 2026 09:00:00 GMT"}, "Mon, 05 Jan"),
        ({"ETag": 'W/"weak"'}, None),
        ({}, None),
    ],
    ids=["last-modified-when-the-etag-is-weak", "weak-etag-only", "no-validator"],
)
def test_if_range_uses_only_a_validator_that_can_match(
    dest: Path, headers: dict[str, str], if_range: str | None
) -> None:
    server = MediaServer(BEFORE)
    server.faults = [
        lambda request: _with(server.serve(request, drop_after=CUT), headers),
        lambda request: _with(server.serve(request), headers),
    ]
    with make_client(server) as client:
        result = client.download("rec-1", dest)
    sent = server.requests[1].headers.get("If-Range")
    assert (sent or "").startswith(if_range or "") and (sent is None) == (if_range is None)
    assert result.changed_at is None and result.sha256 == _sha(BEFORE)


def test_a_206_with_another_etag_is_a_change_even_when_the_overlap_matches(
    dest: Path,
) -> None:
    server = MediaServer(BEFORE)
    server.faults = [
        lambda request: _with(server.serve(request, drop_after=CUT), {"ETag": '"v1"'}),
        # A server that ignores If-Range but labels its bytes honestly.
        lambda request: _with(server.serve(request), {"ETag": '"v2"'}),
    ]
    with make_client(server) as client:
        result = client.download("rec-1", dest)
    assert result.changed_at == CUT


def test_a_drop_inside_the_overlap_resumes_again_from_the_same_offset(dest: Path) -> None:
    server = MediaServer(BEFORE)
    server.faults = [
        lambda request: server.serve(request, drop_after=CUT),
        lambda request: server.serve(request, drop_after=OVERLAP // 2),
    ]
    with make_client(server) as client:
        result = client.download("rec-1", dest)
    assert [range_start(r) for r in server.requests] == [None, CUT - OVERLAP, CUT - OVERLAP]
    assert result.changed_at is None and result.sha256 == _sha(BEFORE)


def _with(response: httpx.Response, headers: dict[str, str]) -> httpx.Response:
    response.headers.update(headers)
    return response
