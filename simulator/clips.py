"""Short, real media clips made once by ffmpeg and cached on disk.

A clip depends only on (format, tone variant, duration), so a data set of any size needs at
most ``TONE_VARIANTS`` clips per format; each recording's bytes are then made distinct by a
marker inside the container (see ``simulator/media.py``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import threading
from pathlib import Path

from simulator.dataset import MediaFormat

log = logging.getLogger(__name__)

# Bump when the ffmpeg command lines change, so stale cached clips are not reused.
_GENERATOR_VERSION = 2
_SAMPLE_RATE = 16000


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recvault-simulator"


def tone_hz(tone: int) -> int:
    return 330 + 55 * tone


def _ffmpeg_args(fmt: MediaFormat, tone: int, duration_s: float, out: Path) -> list[str]:
    sine = f"sine=frequency={tone_hz(tone)}:duration={duration_s}:sample_rate={_SAMPLE_RATE}"
    common = ["-map_metadata", "-1", "-fflags", "+bitexact"]
    if fmt == "wav":
        codec = ["-c:a", "pcm_s16le", "-flags:a", "+bitexact", "-f", "wav"]
        return ["-f", "lavfi", "-i", sine, *codec, *common, str(out)]
    if fmt == "mp3":
        codec = ["-c:a", "libmp3lame", "-b:a", "32k", "-id3v2_version", "0", "-write_xing", "0"]
        codec += ["-f", "mp3"]
        return ["-f", "lavfi", "-i", sine, *codec, *common, str(out)]
    video = f"testsrc=size=160x120:rate=10:duration={duration_s}"
    codec = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    codec += ["-b:a", "32k", "-shortest", "-movflags", "+faststart", "-f", "mp4"]
    flags = ["-flags:v", "+bitexact", "-flags:a", "+bitexact"]
    return [
        "-f",
        "lavfi",
        "-i",
        video,
        "-f",
        "lavfi",
        "-i",
        sine,
        *codec,
        *flags,
        *common,
        str(out),
    ]


class ClipCache:
    """Thread-safe memo of clip bytes, backed by files in ``directory``."""

    def __init__(self, directory: Path | None = None, *, duration_s: float = 1.0) -> None:
        self.directory = directory or default_cache_dir()
        self.duration_s = duration_s
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._memo: dict[str, bytes] = {}

    def clip(self, fmt: MediaFormat, tone: int) -> bytes:
        key = f"{fmt}-tone{tone}-{int(self.duration_s * 1000)}ms-g{_GENERATOR_VERSION}.{fmt}"
        with self._lock:
            if key in self._memo:
                return self._memo[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._memo:
                    return self._memo[key]
            path = self.directory / key
            if not path.is_file():
                self._make(fmt, tone, path)
            data = path.read_bytes()
            with self._lock:
                self._memo[key] = data
            return data

    def _make(self, fmt: MediaFormat, tone: int, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename, so concurrent processes never read half a clip.
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=f".{fmt}")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
            args += _ffmpeg_args(fmt, tone, self.duration_s, tmp)
            result = subprocess.run(args, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"ffmpeg failed making {path.name}: {result.stderr[-500:]}")
            os.replace(tmp, path)
            log.info("clip made file=%s bytes=%d", path.name, path.stat().st_size)
        finally:
            tmp.unlink(missing_ok=True)
