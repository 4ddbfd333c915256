"""storage/media.py against the real ffprobe/ffmpeg on tiny lavfi-generated clips."""

from __future__ import annotations

import os
import random
import struct
import subprocess
import time
from pathlib import Path

import pytest

from models.errors import MediaError
from storage import media

pytestmark = pytest.mark.integration


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
        check=True,
        timeout=60,
    )


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    sine = ["-f", "lavfi", "-i", "sine=frequency=440:duration=2:sample_rate=8000"]
    video = ["-f", "lavfi", "-i", "testsrc=duration=2:size=160x120:rate=10"]
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    out = {name: d / name for name in ("call.wav", "call.mp3", "video.mp4", "silent.mp4")}
    _ffmpeg(*sine, "-c:a", "pcm_s16le", str(out["call.wav"]))
    _ffmpeg(*sine, "-c:a", "libmp3lame", str(out["call.mp3"]))
    # No faststart here: the mp4 derivative must move moov to the front itself.
    _ffmpeg(*video, *sine, *x264, "-c:a", "aac", "-shortest", str(out["video.mp4"]))
    odd = ["-f", "lavfi", "-i", "testsrc=duration=1:size=161x121:rate=10"]
    odd_x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"]
    _ffmpeg(*odd, *odd_x264, str(out["silent.mp4"]))
    rng = random.Random(20260101)
    out["random.bin"] = d / "random.bin"
    out["random.bin"].write_bytes(rng.randbytes(64 * 1024))
    out["truncated.mp4"] = d / "truncated.mp4"
    out["truncated.mp4"].write_bytes(out["video.mp4"].read_bytes()[:3000])
    out["text.wav"] = d / "text.wav"
    out["text.wav"].write_text("this is not audio\n")
    out["subtitles.srt"] = d / "subtitles.srt"
    out["subtitles.srt"].write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n\n")
    return out


def _top_level_atoms(path: Path) -> list[str]:
    data = path.read_bytes()
    atoms: list[str] = []
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
        elif size == 0:
            size = len(data) - pos
        atoms.append(kind.decode("latin-1"))
        pos += size
    return atoms


def _decodes_cleanly(path: Path) -> bool:
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path)]
    proc = subprocess.run(
        [*args, "-f", "null", "-"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return proc.returncode == 0 and not proc.stderr.strip()


def _pix_fmt(path: Path) -> str:
    args = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=pix_fmt"]
    proc = subprocess.run(
        [*args, "-of", "csv=p=0", str(path)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    return proc.stdout.decode().strip()


# --- probe ---------------------------------------------------------------------------------


def test_probe_wav(clips: dict[str, Path]) -> None:
    info = media.probe(clips["call.wav"])
    assert info.format_name == "wav"
    assert info.codec_summary() == "pcm_s16le"
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.size_bytes == clips["call.wav"].stat().st_size
    assert info.has_audio and not info.has_video
    assert info.streams[0].channels == 1


def test_probe_mp3(clips: dict[str, Path]) -> None:
    info = media.probe(clips["call.mp3"])
    assert info.format_name == "mp3"
    assert info.codec_summary() == "mp3"
    # MP3 pads to whole frames: at 8 kHz a frame is 72 ms.
    assert info.duration_s == pytest.approx(2.0, abs=0.25)


def test_probe_mp4(clips: dict[str, Path]) -> None:
    info = media.probe(clips["video.mp4"])
    assert "mp4" in info.format_name
    assert info.codec_summary() == "h264+aac"
    assert info.has_video and info.has_audio
    video = next(s for s in info.streams if s.codec_type == "video")
    assert (video.width, video.height) == (160, 120)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("random.bin", "Invalid data found"),
        ("truncated.mp4", "moov atom not found"),
        ("text.wav", "Invalid data found"),
    ],
)
def test_probe_unreadable_file_raises_with_redacted_stderr(
    clips: dict[str, Path], name: str, expected: str
) -> None:
    with pytest.raises(MediaError) as err:
        media.probe(clips[name])
    assert expected in err.value.stderr_tail
    assert str(err.value).startswith("ffprobe failed (exit 1): <input>: Invalid data found")
    assert str(clips[name].parent) not in err.value.stderr_tail
    assert "<input>" in err.value.stderr_tail
    assert len(err.value.stderr_tail) <= media.STDERR_TAIL_CHARS


def test_probe_file_without_audio_or_video_raises(clips: dict[str, Path]) -> None:
    with pytest.raises(MediaError, match="no audio or video stream"):
        media.probe(clips["subtitles.srt"])


def test_probe_times_out_on_a_hung_ffprobe(tmp_path: Path) -> None:
    # Opening a FIFO with no writer blocks ffprobe forever: a stand-in for a hung binary.
    fifo = tmp_path / "stuck.wav"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(MediaError, match="timed out after 1 s"):
        media.probe(fifo, timeout_s=1)
    assert time.monotonic() - started < 10


# --- transcode -----------------------------------------------------------------------------


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize(
    ("source", "target", "format_name", "codec"),
    [
        ("call.wav", "opus", "ogg", "opus"),
        ("call.mp3", "opus", "ogg", "opus"),
        ("call.wav", "mp3", "mp3", "mp3"),
        ("video.mp4", "opus", "ogg", "opus"),
    ],
)
def test_audio_targets(
    clips: dict[str, Path],
    tmp_path: Path,
    source: str,
    target: media.Target,
    format_name: str,
    codec: str,
) -> None:
    name, _ = media.derivative_name(target)
    dst = tmp_path / name
    info = media.transcode(clips[source], dst, target=target)
    assert info.format_name == format_name
    assert info.codec_summary() == codec
    assert [s.channels for s in info.streams] == [1]
    assert info.duration_s == pytest.approx(2.0, abs=0.25)  # codec frame padding
    assert info.size_bytes == dst.stat().st_size
    assert info == media.probe(dst)
    assert _decodes_cleanly(dst)
    assert _leftovers(tmp_path) == [name]


def test_opus_is_voice_sized(clips: dict[str, Path], tmp_path: Path) -> None:
    info = media.transcode(clips["call.wav"], tmp_path / "playback.ogg", target="opus")
    # 32 kbit/s for 2 s is 8 kB; allow the Ogg overhead but nothing like the 32 kB WAV.
    assert info.size_bytes < 16_000 < clips["call.wav"].stat().st_size


def test_mp4_target_is_h264_aac_with_faststart(clips: dict[str, Path], tmp_path: Path) -> None:
    source_atoms = _top_level_atoms(clips["video.mp4"])
    assert source_atoms.index("mdat") < source_atoms.index("moov")  # the fixture is not faststart
    dst = tmp_path / "playback.mp4"
    info = media.transcode(clips["video.mp4"], dst, target="mp4")
    assert info.codec_summary() == "h264+aac"
    atoms = _top_level_atoms(dst)
    assert atoms.index("moov") < atoms.index("mdat")
    assert _pix_fmt(dst) == "yuv420p"
    assert _decodes_cleanly(dst)


def test_mp4_target_handles_odd_size_video_without_audio(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    info = media.transcode(clips["silent.mp4"], tmp_path / "playback.mp4", target="mp4")
    assert info.codec_summary() == "h264"
    assert not info.has_audio
    video = info.streams[0]
    assert (video.width, video.height) == (160, 120)


def test_mp4_target_refuses_audio_only_source(clips: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="audio-only source"):
        media.transcode(clips["call.wav"], tmp_path / "playback.mp4", target="mp4")
    assert _leftovers(tmp_path) == []


def test_mp4_target_trusts_given_source_info(clips: dict[str, Path], tmp_path: Path) -> None:
    audio_info = media.probe(clips["call.wav"])
    with pytest.raises(MediaError, match="audio-only"):
        media.transcode(
            clips["video.mp4"], tmp_path / "p.mp4", target="mp4", source_info=audio_info
        )


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("silent.mp4", "opus", "matches no streams"),
        ("random.bin", "mp3", "Invalid data found"),
        ("truncated.mp4", "mp4", "moov atom not found"),
    ],
)
def test_failing_ffmpeg_leaves_no_dst(
    clips: dict[str, Path], tmp_path: Path, source: str, target: media.Target, expected: str
) -> None:
    dst = tmp_path / media.derivative_name(target)[0]
    with pytest.raises(MediaError) as err:
        media.transcode(clips[source], dst, target=target)
    assert expected in err.value.stderr_tail
    assert str(tmp_path) not in err.value.stderr_tail
    assert str(clips[source].parent) not in err.value.stderr_tail
    assert _leftovers(tmp_path) == []


def test_failure_keeps_an_earlier_good_dst(clips: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "playback.ogg"
    media.transcode(clips["call.wav"], dst, target="opus")
    before = dst.read_bytes()
    with pytest.raises(MediaError):
        media.transcode(clips["random.bin"], dst, target="opus")
    assert dst.read_bytes() == before
    assert _leftovers(tmp_path) == ["playback.ogg"]


def test_transcode_times_out_and_cleans_up(tmp_path: Path) -> None:
    src_dir = tmp_path / "src"
    out_dir = tmp_path / "out"
    src_dir.mkdir()
    out_dir.mkdir()
    fifo = src_dir / "stuck.wav"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(MediaError, match="ffmpeg opus timed out after 1 s"):
        media.transcode(fifo, out_dir / "playback.ogg", target="opus", timeout_s=1)
    assert time.monotonic() - started < 10
    assert _leftovers(out_dir) == []
