"""Media bodies (markers, padding, chunked ranges) and Range parsing, without ffmpeg."""

from __future__ import annotations

import hashlib
import io
import struct
import wave

import pytest

from simulator.downloads import parse_range, resolve_range
from simulator.errors import ApiError
from simulator.media import CHUNK_BYTES, MediaBody, build_body, marker_text


def tiny_wav(samples: int = 4000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"".join(struct.pack("<h", (i * 37) % 2000 - 1000) for i in range(samples)))
    return out.getvalue()


def joined(body: MediaBody, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(body.chunks(start, end))


def test_chunks_cover_any_range_of_a_padded_body() -> None:
    body = MediaBody(prefix=b"HEAD" * 10, filler=bytes(range(256)) * 3, filler_len=700_001)
    whole = joined(body)
    assert len(whole) == body.size == 40 + 700_001
    assert all(len(c) <= CHUNK_BYTES for c in body.chunks())
    for start, end in [(0, 1), (39, 41), (40, 300_000), (123_457, 700_041), (700_040, 800_000)]:
        assert joined(body, start, end) == whole[start:end]
    assert body.sha256() == hashlib.sha256(whole).hexdigest()


def test_wav_marker_makes_recordings_distinct_and_keeps_the_file_readable() -> None:
    clip = tiny_wav()
    one = joined(build_body(clip, "wav", marker=marker_text("a", 0), size_bytes=None, version=0))
    two = joined(build_body(clip, "wav", marker=marker_text("b", 0), size_bytes=None, version=0))
    assert one != two and len(one) == len(two)
    assert b"recording=a" in one
    with wave.open(io.BytesIO(one)) as w:
        assert (w.getframerate(), w.getnframes()) == (16000, 4000)


def test_versions_change_bytes_but_not_size() -> None:
    clip = tiny_wav()
    sizes, hashes = set(), set()
    for version in (0, 1, 2, 10):
        body = build_body(
            clip, "wav", marker=marker_text("r", version), size_bytes=None, version=version
        )
        sizes.add(body.size)
        hashes.add(body.sha256())
    assert len(sizes) == 1 and len(hashes) == 4


@pytest.mark.parametrize("size", [5_000_001, 5_000_000, 3 * 1024 * 1024 + 17])
def test_large_wav_declares_its_size_and_stays_pcm(size: int) -> None:
    clip = tiny_wav()
    body = build_body(clip, "wav", marker=marker_text("big", 0), size_bytes=size, version=0)
    assert body.size == size
    head = joined(body, 0, 4096)
    assert head[:4] == b"RIFF" and struct.unpack("<I", head[4:8])[0] == size - 8
    data_at = head.index(b"data")
    declared = struct.unpack("<I", head[data_at + 4 : data_at + 8])[0]
    assert declared % 2 == 0 and size - (data_at + 8) - declared in (0, 1)
    # The PCM continues the clip's tone: the first samples equal the clip's.
    pcm = clip[clip.index(b"data") + 8 :]
    assert head[data_at + 8 : data_at + 8 + 1000] == pcm[:1000]


def test_size_override_never_shrinks_a_body() -> None:
    clip = tiny_wav()
    natural = build_body(clip, "wav", marker=marker_text("x", 0), size_bytes=None, version=0)
    small = build_body(clip, "wav", marker=marker_text("x", 0), size_bytes=10, version=0)
    assert small.size == natural.size


def test_mp4_padding_is_a_free_box_of_the_right_size() -> None:
    clip = struct.pack(">I", 16) + b"ftypisom" + b"\x00" * 4  # a lone ftyp box stands in
    body = build_body(clip, "mp4", marker=marker_text("v", 0), size_bytes=2_000_000, version=0)
    data = joined(body)
    assert len(data) == 2_000_000
    pos, boxes = 0, []
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        boxes.append(kind)
        pos += size
    assert pos == len(data)
    assert boxes == [b"ftyp", b"free", b"free"]


def test_mp3_padding_repeats_whole_frames() -> None:
    frame = b"\xff\xf3" + bytes(142)
    clip = frame * 10
    body = build_body(clip, "mp3", marker=marker_text("m", 0), size_bytes=100_000, version=0)
    data = joined(body)
    assert len(data) == 100_000 and data[:3] == b"ID3"
    tag_size = 10 + sum(b << (7 * (3 - i)) for i, b in enumerate(data[6:10]))
    frames = data[tag_size:]
    assert len(frames) % 144 == 0
    assert all(frames[i : i + 2] == b"\xff\xf3" for i in range(0, len(frames), 144))


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 100, (0, 100)),
        ("bytes=0-", 100, (0, 100)),
        ("bytes=10-19", 100, (10, 20)),
        ("bytes=90-500", 100, (90, 100)),
        ("bytes=-30", 100, (70, 100)),
        ("bytes=-300", 100, (0, 100)),
        (" bytes = 5 - 6 ", 100, (5, 7)),
    ],
)
def test_ranges_resolve(header: str | None, size: int, expected: tuple[int, int]) -> None:
    assert resolve_range(parse_range(header), size) == expected


@pytest.mark.parametrize(
    "header", ["bytes=", "bytes=-", "items=0-1", "bytes=5-2", "bytes=0-1,4-5", "0-1"]
)
def test_malformed_ranges_get_400(header: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_range(header)
    assert (caught.value.status, caught.value.body()) == (
        400,
        {"status": "ERROR", "message": "Invalid range header format"},
    )


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=150-200", "bytes=-0"])
def test_unsatisfiable_ranges_get_416_with_the_legacy_body(header: str) -> None:
    with pytest.raises(ApiError) as caught:
        resolve_range(parse_range(header), 100)
    error = caught.value
    assert error.status == 416
    assert error.headers == {"content-range": "bytes */100"}
    assert error.body()["requestError"]["serviceException"]["messageId"] == (
        "REQUESTED_RANGE_NOT_SATISFIABLE"
    )
