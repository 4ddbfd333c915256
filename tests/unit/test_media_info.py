"""storage/media.py without running ffmpeg: parsing, names, command lines, redaction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models.errors import MediaError, MediaToolMissing
from storage import media
from storage.media import MediaInfo, StreamInfo

FFPROBE_MP4: dict[str, Any] = {
    "streams": [
        {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 160, "height": 120},
        {"index": 1, "codec_type": "audio", "codec_name": "aac", "channels": 1},
        {"index": 2, "codec_type": "data", "codec_name": "bin_data"},
    ],
    "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "2.021", "size": "32306"},
}


def test_parse_probe_output_reads_format_and_streams() -> None:
    info = media.parse_probe_output(FFPROBE_MP4, size_bytes=1)
    assert info.format_name == "mov,mp4,m4a,3gp,3g2,mj2"
    assert info.duration_s == pytest.approx(2.021)
    assert info.size_bytes == 32306
    assert info.streams[0] == StreamInfo(0, "video", "h264", width=160, height=120)
    assert info.streams[1].channels == 1
    assert info.has_audio and info.has_video
    assert info.codec_summary() == "h264+aac"


def test_parse_probe_output_tolerates_missing_fields() -> None:
    data = {"streams": [{"codec_type": "audio"}], "format": {"duration": "N/A"}}
    info = media.parse_probe_output(data, size_bytes=77)
    assert info.format_name == "unknown"
    assert info.duration_s is None
    assert info.size_bytes == 77
    assert info.streams == (StreamInfo(0, "audio", "unknown"),)
    assert info.has_audio and not info.has_video


def test_codec_summary_skips_repeats_and_non_media_streams() -> None:
    streams = (
        StreamInfo(0, "audio", "pcm_s16le"),
        StreamInfo(1, "audio", "pcm_s16le"),
        StreamInfo(2, "subtitle", "mov_text"),
    )
    assert MediaInfo("wav", 1.0, 10, streams).codec_summary() == "pcm_s16le"


def test_as_dict_is_json_and_round_trips() -> None:
    info = media.parse_probe_output(FFPROBE_MP4, size_bytes=1)
    data = json.loads(json.dumps(info.as_dict()))
    assert data["codec"] == "h264+aac"
    assert data["streams"][0] == {
        "index": 0,
        "codec_type": "video",
        "codec_name": "h264",
        "width": 160,
        "height": 120,
    }
    assert MediaInfo.from_dict(data) == info


@pytest.mark.parametrize(
    ("extension", "content_type"),
    [
        ("wav", "audio/wav"),
        (".WAV", "audio/wav"),
        ("mp3", "audio/mpeg"),
        ("mp4", "video/mp4"),
        ("ogg", "audio/ogg"),
        ("opus", "audio/ogg"),
        ("webm", "video/webm"),
        ("xyz", "application/octet-stream"),
        ("", "application/octet-stream"),
    ],
)
def test_content_type_for(extension: str, content_type: str) -> None:
    assert media.content_type_for(extension) == content_type


def test_derivative_names() -> None:
    assert media.derivative_name("opus") == ("playback.ogg", "audio/ogg")
    assert media.derivative_name("mp3") == ("playback.mp3", "audio/mpeg")
    assert media.derivative_name("mp4") == ("playback.mp4", "video/mp4")
    with pytest.raises(ValueError, match="unknown derivative"):
        media.derivative_name("flac")  # type: ignore[arg-type]


def _after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_mp4_command_uses_playback_settings() -> None:
    args = media.transcode_args(Path("/w/in.mp4"), Path("/w/.out.part"), target="mp4")
    assert args[0] == media.FFMPEG
    assert _after(args, "-vcodec") == "libx264"
    assert _after(args, "-preset") == "veryfast"
    assert _after(args, "-crf") == "28"
    assert _after(args, "-pix_fmt") == "yuv420p"
    assert _after(args, "-acodec") == "aac"
    assert _after(args, "-movflags") == "+faststart"
    assert _after(args, "-f") == "mp4"
    assert _after(args, "-protocol_whitelist") == "file"
    assert args.index("-protocol_whitelist") < args.index("-i")
    maps = [args[i + 1] for i, a in enumerate(args) if a == "-map"]
    assert maps == ["0:v:0", "0:a:0?"]


def test_opus_command_uses_voice_settings() -> None:
    args = media.transcode_args(Path("/w/in.wav"), Path("/w/.out.part"), target="opus")
    assert _after(args, "-acodec") == "libopus"
    assert _after(args, "-b:a") == "32k"
    assert _after(args, "-ac") == "1"
    assert _after(args, "-f") == "ogg"
    assert "-vcodec" not in args


def test_redact_stderr_replaces_paths_and_keeps_the_tail() -> None:
    src = Path("/home/alice/work/conv_+441234567_rec.wav")
    noise = "x" * 2000
    stderr = f"{noise}\n{src}: Invalid data found when processing input\n"
    tail = media.redact_stderr(stderr, {src: "<input>"})
    assert len(tail) <= media.STDERR_TAIL_CHARS
    assert tail.endswith("<input>: Invalid data found when processing input")
    assert "alice" not in tail and "441234567" not in tail


def test_missing_binary_is_a_media_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(media, "FFPROBE", "ffprobe-not-installed-here")
    f = tmp_path / "a.wav"
    f.write_bytes(b"RIFF")
    with pytest.raises(MediaToolMissing, match="not found on PATH") as err:
        media.probe(f)
    assert isinstance(err.value, MediaError) and err.value.exit_code == 2
    with pytest.raises(MediaToolMissing, match="ffprobe-not-installed-here not found"):
        media.require_tools()


def test_is_partial_recognises_only_transcode_temp_names() -> None:
    assert media.is_partial(Path("/w/.playback.ogg.0a1b2c3d.part"))
    assert not media.is_partial(Path("/w/playback.ogg"))
    assert not media.is_partial(Path("/w/original.wav.part"))
