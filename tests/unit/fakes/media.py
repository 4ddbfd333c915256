"""Real, tiny media files for the fakes to serve: ffprobe reads them like any recording.

WAVs are made with the standard library (no ffmpeg): a fraction of a second of 8 kHz mono
16-bit tone, about 3 KB for 0.2 s. Different ``seed`` values give different bytes (another
tone), so tests can serve "the same recording with changed bytes". ``PROBE_MEMO`` runs the real
ffprobe once per distinct content (see ``ProbeMemo``); no media tool is faked.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import struct
import threading
import wave
from collections.abc import Callable
from pathlib import Path

from models.errors import MediaError
from storage import media
from storage.media import PROBE_TIMEOUT_S, MediaInfo

RATE_HZ = 8000


@functools.cache
def tiny_wav(seed: int = 0, *, seconds: float = 0.2) -> bytes:
    frames = int(RATE_HZ * seconds)
    step = 0.05 + 0.01 * (seed % 50)
    samples = struct.pack(f"<{frames}h", *(int(8000 * math.sin(i * step)) for i in range(frames)))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE_HZ)
        wav.writeframes(samples)
    return out.getvalue()


def not_media(size_bytes: int = 3000) -> bytes:
    """Bytes no media tool can read (what a source serving an HTML error page looks like)."""
    text = b"<html><body>502 Bad Gateway</body></html>\n"
    return (text * (size_bytes // len(text) + 1))[:size_bytes]


class ProbeMemo:
    """``storage.media.probe`` that runs the real ffprobe once per distinct file content.

    ffprobe costs ~50 ms of CPU per call, and the archive steps probe every recording twice
    (after the download, before the upload) while the unit tests serve a handful of distinct
    WAVs many times. The answer (a ``MediaInfo``, or the ``MediaError`` it raised) depends only
    on the bytes, so it is remembered by their SHA-256, for the life of the test process.
    """

    def __init__(self, real: Callable[..., MediaInfo]) -> None:
        self.real = real
        self.runs = 0  # real ffprobe runs
        self._answers: dict[str, MediaInfo | MediaError] = {}
        self._lock = threading.Lock()

    def __call__(self, path: Path, *, timeout_s: float = PROBE_TIMEOUT_S) -> MediaInfo:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        with self._lock:
            answer = self._answers.get(digest)
        if answer is None:
            try:
                answer = self.real(path, timeout_s=timeout_s)
            except MediaError as exc:
                answer = exc
            with self._lock:
                self.runs += 1
                self._answers[digest] = answer
        if isinstance(answer, MediaError):
            raise MediaError(answer.message, stderr_tail=answer.stderr_tail)
        return answer


PROBE_MEMO = ProbeMemo(media.probe)
