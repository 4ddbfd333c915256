"""ffprobe and ffmpeg behind typed functions.

ffmpeg-python builds the command lines; the processes run here with a timeout because neither
``ffmpeg.probe`` nor ``ffmpeg.run`` can stop a hung binary. Both tools work on files, so memory
stays constant whatever the recording size. Every failure becomes a ``MediaError`` whose
``stderr_tail`` has the paths replaced by ``<input>``/``<output>``: work-file names may carry
participant identities, which must not reach logs or the catalog.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ffmpeg

from models.errors import MediaError, MediaTimeout, MediaToolMissing
from storage import riff

log = logging.getLogger(__name__)

Target = Literal["opus", "mp3", "mp4"]

# Module attributes rather than settings: tests point them at a missing binary.
FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
PROBE_TIMEOUT_S = 60.0
TRANSCODE_TIMEOUT_S = 3600.0
STDERR_TAIL_CHARS = 500

# Only plain files: a downloaded "recording" that is really a playlist must not make ffmpeg
# open URLs or other local files.
_INPUT_OPTIONS: dict[str, str] = {"protocol_whitelist": "file"}
_GLOBAL_ARGS = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error")

_DERIVATIVES: dict[str, tuple[str, str]] = {
    "opus": ("playback.ogg", "audio/ogg"),
    "mp3": ("playback.mp3", "audio/mpeg"),
    "mp4": ("playback.mp4", "video/mp4"),
}
_CONTAINER: dict[str, str] = {"opus": "ogg", "mp3": "mp3", "mp4": "mp4"}
_EXPECTED_CODECS: dict[str, tuple[str, ...]] = {
    "opus": ("opus",),
    "mp3": ("mp3",),
    "mp4": ("h264",),
}
_CONTENT_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "oga": "audio/ogg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "weba": "audio/webm",
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
}
_MEDIA_TYPES = ("audio", "video")


@dataclass(frozen=True)
class StreamInfo:
    index: int
    codec_type: str  # "audio", "video", "data", "subtitle", ...
    codec_name: str
    channels: int | None = None
    width: int | None = None
    height: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "codec_type": self.codec_type,
            "codec_name": self.codec_name,
        }
        for name in ("channels", "width", "height"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True)
class MediaInfo:
    format_name: str
    duration_s: float | None
    size_bytes: int
    streams: tuple[StreamInfo, ...]

    @property
    def has_audio(self) -> bool:
        return any(s.codec_type == "audio" for s in self.streams)

    @property
    def has_video(self) -> bool:
        return any(s.codec_type == "video" for s in self.streams)

    def codec_summary(self) -> str:
        """Audio/video codecs in stream order without repeats, e.g. ``h264+aac``."""
        names: list[str] = []
        for s in self.streams:
            if s.codec_type in _MEDIA_TYPES and s.codec_name not in names:
                names.append(s.codec_name)
        return "+".join(names)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format_name": self.format_name,
            "duration_s": self.duration_s,
            "size_bytes": self.size_bytes,
            "codec": self.codec_summary(),
            "streams": [s.as_dict() for s in self.streams],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaInfo:
        """Inverse of ``as_dict`` (reads the catalog's ``probe`` column)."""
        return cls(
            format_name=str(data["format_name"]),
            duration_s=None if data.get("duration_s") is None else float(data["duration_s"]),
            size_bytes=int(data["size_bytes"]),
            streams=tuple(
                StreamInfo(
                    index=int(s["index"]),
                    codec_type=str(s["codec_type"]),
                    codec_name=str(s["codec_name"]),
                    channels=s.get("channels"),
                    width=s.get("width"),
                    height=s.get("height"),
                )
                for s in data.get("streams", [])
            ),
        )


def _opt_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _opt_float(value: Any) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result >= 0 else None


def parse_probe_output(data: dict[str, Any], *, size_bytes: int) -> MediaInfo:
    """Build a ``MediaInfo`` from ffprobe's ``-show_format -show_streams`` JSON."""
    fmt = data.get("format") or {}
    streams = tuple(
        StreamInfo(
            index=int(s.get("index", i)),
            codec_type=str(s.get("codec_type") or "unknown"),
            codec_name=str(s.get("codec_name") or "unknown"),
            channels=_opt_int(s.get("channels")),
            width=_opt_int(s.get("width")),
            height=_opt_int(s.get("height")),
        )
        for i, s in enumerate(data.get("streams") or [])
    )
    return MediaInfo(
        format_name=str(fmt.get("format_name") or "unknown"),
        duration_s=_opt_float(fmt.get("duration")),
        size_bytes=_opt_int(fmt.get("size")) or size_bytes,
        streams=streams,
    )


def derivative_name(target: Target) -> tuple[str, str]:
    """The derivative's object name and content type, e.g. ``("playback.ogg", "audio/ogg")``."""
    try:
        return _DERIVATIVES[target]
    except KeyError:
        raise ValueError(f"unknown derivative target {target!r}") from None


def content_type_for(extension: str) -> str:
    """Content type for a file extension (with or without the dot); unknown → octet-stream."""
    return _CONTENT_TYPES.get(extension.lower().lstrip("."), "application/octet-stream")


def redact_stderr(stderr: str, paths: dict[Path, str]) -> str:
    """The last ``STDERR_TAIL_CHARS`` of ``stderr`` with each path replaced by its label."""
    text = stderr
    # Longest first, so a path never leaves a fragment of a longer one behind.
    for path, label in sorted(paths.items(), key=lambda kv: -len(str(kv[0]))):
        text = text.replace(str(path), label)
    text = text.strip()
    return text[-STDERR_TAIL_CHARS:]


def _last_line(tail: str) -> str:
    lines = [line for line in tail.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no error output"


def _run(
    args: list[str], *, timeout_s: float, paths: dict[Path, str], what: str
) -> subprocess.CompletedProcess[bytes]:
    """Run a tool; stderr goes to a temp file so a flood of decode errors costs no memory."""
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                timeout=timeout_s,
                check=False,
            )
        except FileNotFoundError:
            raise MediaToolMissing(
                f"{args[0]} not found on PATH: install ffmpeg (apt-get install ffmpeg)"
            ) from None
        except subprocess.TimeoutExpired:
            # subprocess.run has killed and reaped the child already.
            tail = redact_stderr(_read_tail(err), paths)
            raise MediaTimeout(
                f"{what} timed out after {timeout_s:g} s", stderr_tail=tail
            ) from None
        if proc.returncode != 0:
            tail = redact_stderr(_read_tail(err), paths)
            raise MediaError(
                f"{what} failed (exit {proc.returncode}): {_last_line(tail)}", stderr_tail=tail
            )
    return proc


def _read_tail(handle: Any) -> str:
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    # Bytes, not chars: read a little more so multi-byte text still fills the tail.
    handle.seek(max(0, size - 4 * STDERR_TAIL_CHARS))
    return bytes(handle.read()).decode("utf-8", errors="replace")


def require_tools() -> None:
    """Both tools are installed (on PATH or where ``FFPROBE``/``FFMPEG`` point); a run checks
    this before it claims anything, so a missing tool stops it instead of failing recordings."""
    for tool in (FFPROBE, FFMPEG):
        if shutil.which(tool) is None:
            raise MediaToolMissing(
                f"{tool} not found on PATH: install ffmpeg (apt-get install ffmpeg); "
                "no recording was touched"
            )


def probe(path: Path, *, timeout_s: float | None = None) -> MediaInfo:
    """ffprobe ``path``; unreadable files and files without audio or video raise MediaError,
    a missing ffprobe ``MediaToolMissing`` and one that runs out of time ``MediaTimeout``."""
    timeout_s = PROBE_TIMEOUT_S if timeout_s is None else timeout_s
    path = Path(path).absolute()
    wav = riff.read_wav_header(path)
    if wav is not None:
        # A plain PCM WAV read from its header: what ffprobe would say, without its process.
        stream = StreamInfo(0, "audio", wav.codec_name, channels=wav.channels)
        return MediaInfo("wav", wav.duration_s, wav.size_bytes, (stream,))
    args = [FFPROBE, "-hide_banner", "-loglevel", "error"]
    for key, value in _INPUT_OPTIONS.items():
        args += [f"-{key}", value]
    args += ["-show_format", "-show_streams", "-of", "json", str(path)]
    proc = _run(args, timeout_s=timeout_s, paths={path: "<input>"}, what="ffprobe")
    try:
        data = json.loads(proc.stdout.decode("utf-8", errors="replace"))
    except json.JSONDecodeError:
        raise MediaError("ffprobe returned output that is not JSON") from None
    if not isinstance(data, dict):
        raise MediaError("ffprobe returned output that is not a JSON object")
    info = parse_probe_output(data, size_bytes=path.stat().st_size)
    if not (info.has_audio or info.has_video):
        raise MediaError(
            f"no audio or video stream (format {info.format_name}, {len(info.streams)} streams)"
        )
    return info


def _output_options(target: Target) -> tuple[list[str], dict[str, Any]]:
    """Stream selectors and encoder options for one target."""
    if target == "opus":
        # Voice settings: mono, 32 kbit/s, the encoder's VoIP mode.
        opts = {"acodec": "libopus", "audio_bitrate": "32k", "ac": 1, "application": "voip"}
        return ["a:0"], opts
    if target == "mp3":
        return ["a:0"], {"acodec": "libmp3lame", "audio_bitrate": "64k", "ac": 1}
    if target == "mp4":
        opts = {
            "vcodec": "libx264",
            "preset": "veryfast",
            "crf": 28,
            "pix_fmt": "yuv420p",
            # yuv420p needs even dimensions; odd-sized sources would make libx264 fail.
            "vf": "scale=trunc(iw/2)*2:trunc(ih/2)*2",
            "acodec": "aac",
            "audio_bitrate": "96k",
            "movflags": "+faststart",
        }
        return ["v:0", "a:0?"], opts
    raise ValueError(f"unknown derivative target {target!r}")


def transcode_args(src: Path, out: Path, *, target: Target) -> list[str]:
    """The ffmpeg command line for one derivative (exposed for tests and ``--dry-run``)."""
    selectors, opts = _output_options(target)
    inp = ffmpeg.input(str(src), **_INPUT_OPTIONS)
    streams = [inp[sel] for sel in selectors]
    node = ffmpeg.output(*streams, str(out), format=_CONTAINER[target], **opts)
    args: list[str] = node.global_args(*_GLOBAL_ARGS).compile(cmd=FFMPEG, overwrite_output=True)
    return args


def transcode(
    src: Path,
    dst: Path,
    *,
    target: Target,
    timeout_s: float = TRANSCODE_TIMEOUT_S,
    source_info: MediaInfo | None = None,
) -> MediaInfo:
    """Make the ``target`` derivative of ``src`` at ``dst`` and return its probe.

    ffmpeg writes a hidden temp name next to ``dst`` that is renamed only after ffmpeg exited 0
    and the result probed with the expected codec, so a killed or failed run never leaves a
    ``dst`` that looks done. ``source_info`` (the download's probe) saves a second probe of
    ``src`` for the mp4 target, which must refuse audio-only sources.
    """
    src = Path(src).absolute()
    dst = Path(dst).absolute()
    if target not in _DERIVATIVES:
        raise ValueError(f"unknown derivative target {target!r}")
    if target == "mp4":
        info = source_info or probe(src, timeout_s=min(timeout_s, PROBE_TIMEOUT_S))
        if not info.has_video:
            raise MediaError(
                f"cannot make an mp4 derivative of an audio-only source ({info.codec_summary()})"
            )
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.part")
    paths = {src: "<input>", tmp: "<output>", dst: "<output>"}
    try:
        _run(
            transcode_args(src, tmp, target=target),
            timeout_s=timeout_s,
            paths=paths,
            what=f"ffmpeg {target}",
        )
        result = probe(tmp, timeout_s=min(timeout_s, PROBE_TIMEOUT_S))
        codecs = {s.codec_name for s in result.streams}
        if not codecs.intersection(_EXPECTED_CODECS[target]):
            raise MediaError(
                f"ffmpeg {target} produced {result.codec_summary() or 'no streams'}, "
                f"expected {'/'.join(_EXPECTED_CODECS[target])}"
            )
        _fsync(tmp)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info(
        "transcoded target=%s name=%s size_bytes=%d codec=%s duration_s=%s",
        target,
        dst.name,
        result.size_bytes,
        result.codec_summary(),
        result.duration_s,
    )
    return result


def _fsync(path: Path) -> None:
    # The rename must not become durable before the bytes it names.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_PART_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.part$")


def is_partial(path: Path) -> bool:
    """True for a temp file that an interrupted ``transcode`` left behind (safe to delete)."""
    return bool(_PART_NAME.match(path.name))
