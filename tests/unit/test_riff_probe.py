"""Plain PCM WAVs are described from their header exactly as ffprobe describes them; every
other file (and every odd WAV) still goes to the real ffprobe."""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

import pytest

from models.errors import MediaError
from storage import media, riff

FORMATS = {
    "s16-mono": ["-ac", "1", "-c:a", "pcm_s16le"],
    "s16-stereo-44k": ["-ac", "2", "-ar", "44100", "-c:a", "pcm_s16le"],
    "u8": ["-ac", "1", "-c:a", "pcm_u8"],
    "alaw": ["-ac", "1", "-ar", "8000", "-c:a", "pcm_alaw"],
    "mulaw": ["-ac", "1", "-ar", "8000", "-c:a", "pcm_mulaw"],
}


def _make(path: Path, codec_args: list[str], *, extra: list[str] | None = None) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=0.7:sample_rate=16000"]
        + codec_args
        + (extra or [])
        + [str(path)],
        check=True,
    )
    return path


def _ffprobe(path: Path) -> media.MediaInfo:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        check=True,
    )
    return media.parse_probe_output(json.loads(done.stdout), size_bytes=path.stat().st_size)


@pytest.mark.parametrize("name", list(FORMATS))
def test_a_plain_wav_is_described_as_ffprobe_describes_it(tmp_path: Path, name: str) -> None:
    path = _make(tmp_path / f"{name}.wav", FORMATS[name])
    assert riff.read_wav_header(path) is not None
    assert media.probe(path).as_dict() == _ffprobe(path).as_dict()


def test_a_wav_with_metadata_chunks_before_the_data(tmp_path: Path) -> None:
    path = _make(tmp_path / "tagged.wav", FORMATS["s16-mono"], extra=["-metadata", "comment=x"])
    assert riff.read_wav_header(path) is not None
    assert media.probe(path).as_dict() == _ffprobe(path).as_dict()


def _replace(path: Path, out: Path, offset: int, data: bytes) -> Path:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    out.write_bytes(bytes(raw))
    return out


def test_odd_files_are_left_to_ffprobe(tmp_path: Path) -> None:
    good = _make(tmp_path / "good.wav", FORMATS["s16-mono"])
    raw = good.read_bytes()
    data_at = raw.index(b"data")
    cases = {
        "truncated": tmp_path / "truncated.wav",
        "block-align": _replace(good, tmp_path / "align.wav", raw.index(b"fmt ") + 20, b"\x07\x00"),
        "extensible": _replace(good, tmp_path / "ext.wav", raw.index(b"fmt ") + 8, b"\xfe\xff"),
        "unknown-size": _replace(good, tmp_path / "rf.wav", data_at + 4, b"\xff\xff\xff\xff"),
        "not-wav": tmp_path / "text.wav",
        # ffmpeg writes these as WAVE_FORMAT_EXTENSIBLE: a header this reader leaves alone.
        "s24": _make(tmp_path / "s24.wav", ["-ac", "1", "-c:a", "pcm_s24le"]),
        "f32": _make(tmp_path / "f32.wav", ["-ac", "1", "-c:a", "pcm_f32le"]),
        "mp3": tmp_path / "tone.mp3",
    }
    cases["truncated"].write_bytes(raw[: data_at + 100])
    cases["not-wav"].write_bytes(b"recvault-simulator corrupt media\n" + bytes(5000))
    _make(cases["mp3"], ["-ac", "1", "-c:a", "libmp3lame"])
    for name, path in cases.items():
        assert riff.read_wav_header(path) is None, name


def test_a_fifo_is_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "stuck.wav"
    os.mkfifo(fifo)
    assert riff.read_wav_header(fifo) is None


def test_probe_takes_the_header_path_and_still_rejects_what_ffprobe_rejects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _make(tmp_path / "good.wav", FORMATS["s16-mono"])
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + struct.pack("<I", 10) + b"WAVEjunk" + bytes(64))
    started: list[list[str]] = []
    real_run = subprocess.run

    def spy(args: list[str], **kwargs: object) -> object:
        started.append(args)
        return real_run(args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "run", spy)
    assert media.probe(good).codec_summary() == "pcm_s16le"
    assert started == []  # no ffprobe process for a plain WAV
    with pytest.raises(MediaError):
        media.probe(bad)
    assert len(started) == 1 and started[0][0].endswith("ffprobe")
