"""Per-recording media bytes: a cached clip, a marker that makes it unique, optional padding.

A ``MediaBody`` is a small in-memory ``prefix`` followed by ``filler_len`` bytes cut from a
repeating pattern, so a body of several gigabytes is served and hashed chunk by chunk without
ever being held in memory. Every body stays decodable:

- WAV: a ``LIST/INFO/ICMT`` chunk carries the marker; a large WAV declares the full data size
  and its PCM is the clip's tone repeated.
- MP3: an ID3v2.3 ``TXXX`` frame carries the marker; a large MP3 repeats the clip's frames.
- MP4: a trailing ``free`` box carries the marker; padding is a second ``free`` box (64-bit size).
"""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from simulator.dataset import MediaFormat

CHUNK_BYTES = 256 * 1024
CONTENT_TYPES: dict[str, str] = {"wav": "audio/wav", "mp3": "audio/mpeg", "mp4": "video/mp4"}
_U32_MAX = 0xFFFFFFFF
_ZEROS = bytes(64 * 1024)
_MP3_FRAME_BYTES = 144
CORRUPT_BYTES = 32 * 1024


@dataclass(frozen=True)
class MediaBody:
    prefix: bytes
    filler: bytes = b""
    filler_len: int = 0
    filler_shift: int = 0
    content_type: str = "application/octet-stream"

    @property
    def size(self) -> int:
        return len(self.prefix) + self.filler_len

    @cached_property
    def _tile(self) -> bytes:
        # Long enough that any CHUNK_BYTES window starting inside the first pattern is contiguous.
        repeats = -(-(CHUNK_BYTES + len(self.filler)) // len(self.filler))
        return self.filler * repeats

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``[start, end)`` in pieces of at most CHUNK_BYTES."""
        stop = self.size if end is None else min(end, self.size)
        pos = max(0, start)
        while pos < min(stop, len(self.prefix)):
            piece_end = min(stop, len(self.prefix), pos + CHUNK_BYTES)
            yield self.prefix[pos:piece_end]
            pos = piece_end
        if pos >= stop:
            return
        tile = self._tile
        pattern = len(self.filler)
        while pos < stop:
            count = min(CHUNK_BYTES, stop - pos)
            offset = (pos - len(self.prefix) + self.filler_shift) % pattern
            yield tile[offset : offset + count]
            pos += count

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


def corrupt_body(marker: bytes, *, size_bytes: int | None) -> MediaBody:
    """Not media at all: a text line, then random bytes seeded by the marker (no container)."""
    rng = random.Random(marker)
    head = b"recvault-simulator corrupt media " + marker + b"\n"
    size = max(size_bytes or CORRUPT_BYTES, len(head))
    noise = rng.randbytes(min(size - len(head), CORRUPT_BYTES))
    filler_len = size - len(head) - len(noise)
    return MediaBody(
        prefix=head + noise,
        filler=noise or b"\x00",
        filler_len=filler_len,
        content_type="application/octet-stream",
    )


def marker_text(recording_id: str, version: int) -> bytes:
    # Fixed width, so every version of a recording has the same size.
    return f"recvault-simulator recording={recording_id} version={version:06d}".encode()


def build_body(
    clip: bytes, fmt: MediaFormat, *, marker: bytes, size_bytes: int | None, version: int
) -> MediaBody:
    if fmt == "wav":
        return _wav_body(clip, marker=marker, size_bytes=size_bytes, version=version)
    if fmt == "mp3":
        return _mp3_body(clip, marker=marker, size_bytes=size_bytes, version=version)
    return _mp4_body(clip, marker=marker, size_bytes=size_bytes)


def _wav_chunks(clip: bytes) -> tuple[bytes, bytes]:
    """The ``fmt `` payload and the PCM of a RIFF/WAVE file."""
    if clip[:4] != b"RIFF" or clip[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    pos, fmt_payload, pcm = 12, b"", b""
    while pos + 8 <= len(clip):
        chunk_id, length = clip[pos : pos + 4], struct.unpack("<I", clip[pos + 4 : pos + 8])[0]
        payload = clip[pos + 8 : pos + 8 + length]
        if chunk_id == b"fmt ":
            fmt_payload = payload
        elif chunk_id == b"data":
            pcm = payload
        pos += 8 + length + (length & 1)
    if not fmt_payload or not pcm:
        raise ValueError("WAV file without fmt or data chunk")
    return fmt_payload, pcm[: len(pcm) - len(pcm) % 2]


def _riff_chunk(chunk_id: bytes, payload: bytes) -> bytes:
    pad = b"\x00" if len(payload) % 2 else b""
    return chunk_id + struct.pack("<I", len(payload)) + payload + pad


def _wav_body(clip: bytes, *, marker: bytes, size_bytes: int | None, version: int) -> MediaBody:
    fmt_payload, pcm = _wav_chunks(clip)
    comment = marker + b"\x00"
    info = _riff_chunk(b"LIST", b"INFO" + _riff_chunk(b"ICMT", comment))
    head = _riff_chunk(b"fmt ", fmt_payload) + info
    header_len = 12 + len(head) + 8
    natural = header_len + len(pcm)
    total = natural if size_bytes is None else max(size_bytes, natural)
    data_len = (total - header_len) & ~1  # whole 16-bit samples; an odd byte trails the chunk
    riff = struct.pack("<I", min(total - 8, _U32_MAX))
    prefix = b"RIFF" + riff + b"WAVE" + head + b"data" + struct.pack("<I", min(data_len, _U32_MAX))
    # Versions differ in the marker and in where the tone starts.
    shift = (version * 2 * 4099) % len(pcm)
    if size_bytes is None or total == natural:
        return MediaBody(
            prefix=prefix + pcm[shift:] + pcm[:shift], content_type=CONTENT_TYPES["wav"]
        )
    return MediaBody(
        prefix=prefix,
        filler=pcm,
        filler_len=total - header_len,
        filler_shift=shift,
        content_type=CONTENT_TYPES["wav"],
    )


def _syncsafe(value: int) -> bytes:
    return bytes((value >> shift) & 0x7F for shift in (21, 14, 7, 0))


def _mp3_body(clip: bytes, *, marker: bytes, size_bytes: int | None, version: int) -> MediaBody:
    # The clips are CBR 32 kb/s at 16 kHz without a Xing frame: every frame is 144 bytes, so the
    # clip can be repeated frame by frame and stays a valid stream.
    frame = _MP3_FRAME_BYTES if len(clip) % _MP3_FRAME_BYTES == 0 else len(clip)
    text = b"\x00" + b"recvault-simulator\x00" + marker
    id3_frame = b"TXXX" + struct.pack(">I", len(text)) + b"\x00\x00" + text
    natural = 10 + len(id3_frame) + len(clip)
    pad = 0 if size_bytes is None else max(0, size_bytes - natural)
    tag_padding = pad % frame  # what whole frames cannot fill goes into the tag's own padding
    tag_body = id3_frame + bytes(tag_padding)
    prefix = b"ID3\x03\x00\x00" + _syncsafe(len(tag_body)) + tag_body + clip
    shift = (version * 7 * frame) % len(clip)
    return MediaBody(
        prefix=prefix,
        filler=clip,
        filler_len=pad - tag_padding,
        filler_shift=shift,
        content_type=CONTENT_TYPES["mp3"],
    )


def _mp4_body(clip: bytes, *, marker: bytes, size_bytes: int | None) -> MediaBody:
    natural = len(clip) + 8 + len(marker)
    pad = 0 if size_bytes is None else max(0, size_bytes - natural)
    if 0 < pad < 16:
        # Too small for a box of its own: widen the marker box instead.
        marker, pad = marker + bytes(pad), 0
    prefix = clip + struct.pack(">I", 8 + len(marker)) + b"free" + marker
    if pad == 0:
        return MediaBody(prefix=prefix, content_type=CONTENT_TYPES["mp4"])
    prefix += struct.pack(">I", 1) + b"free" + struct.pack(">Q", pad)
    return MediaBody(
        prefix=prefix, filler=_ZEROS, filler_len=pad - 16, content_type=CONTENT_TYPES["mp4"]
    )
