"""The simulator over real HTTP: real, decodable, distinct media; Range; the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from simulator.scenario import Scenario
from simulator.server import SimulatorServer
from tests.fixtures.simulator import StartSimulator

pytestmark = pytest.mark.integration

DOWNLOAD = "/ccaas/voice/2/recording/download/{}"
EXPECTED_CODECS = {"wav": ["pcm_s16le"], "mp3": ["mp3"], "mp4": ["aac", "h264"]}


def client_for(sim: SimulatorServer) -> httpx.Client:
    return httpx.Client(
        base_url=sim.base_url, headers={"Authorization": f"App {sim.api_key}"}, timeout=30
    )


def probe_codecs(path: Path) -> list[str]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(s["codec_name"] for s in json.loads(result.stdout)["streams"])


def decode_errors(path: Path) -> str:
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"rc={result.returncode} {result.stderr}" if result.returncode or result.stderr else ""


def extension(element: dict[str, object]) -> str:
    return str(element["filename"]).rsplit(".", 1)[1]


def test_every_recording_downloads_as_distinct_decodable_media(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    hashes: set[str] = set()
    probed: set[str] = set()
    with client_for(simulator) as client:
        for element in simulator.recordings():
            rid = str(element["recordingId"])
            response = client.get(DOWNLOAD.format(rid))
            assert response.status_code == 200, response.text
            digest = hashlib.sha256(response.content).hexdigest()
            assert digest == simulator.media_sha256(rid)
            assert len(response.content) == simulator.media_size(rid)
            assert response.headers["content-length"] == str(len(response.content))
            assert response.headers["accept-ranges"] == "bytes"
            hashes.add(digest)
            ext = extension(element)
            if ext not in probed:
                path = tmp_path / f"{rid}.{ext}"
                path.write_bytes(response.content)
                assert probe_codecs(path) == EXPECTED_CODECS[ext]
                assert decode_errors(path) == ""
                probed.add(ext)
    assert len(hashes) == len(simulator.recordings()) == 20
    assert probed == {"wav", "mp3", "mp4"}, "the session data set has every format"


def test_range_requests(simulator: SimulatorServer) -> None:
    rid = str(simulator.recordings()[0]["recordingId"])
    size = simulator.media_size(rid)
    with client_for(simulator) as client:
        whole = client.get(DOWNLOAD.format(rid)).content
        part = client.get(DOWNLOAD.format(rid), headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 100-1099/{size}"
        assert part.content == whole[100:1100]
        tail = client.get(DOWNLOAD.format(rid), headers={"Range": f"bytes={size - 10}-"})
        assert (tail.status_code, tail.content) == (206, whole[-10:])
        suffix = client.get(DOWNLOAD.format(rid), headers={"Range": "bytes=-64"})
        assert suffix.content == whole[-64:]
        beyond = client.get(DOWNLOAD.format(rid), headers={"Range": f"bytes={size}-"})
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{size}"
        assert beyond.json() == {
            "requestError": {
                "serviceException": {
                    "messageId": "REQUESTED_RANGE_NOT_SATISFIABLE",
                    "text": "Requested range not satisfiable",
                }
            }
        }
        bad = client.get(DOWNLOAD.format(rid), headers={"Range": "bytes=a-b"})
        assert bad.status_code == 400
        assert bad.json() == {"status": "ERROR", "message": "Invalid range header format"}
        head = client.head(DOWNLOAD.format(rid))
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(size)


def test_large_media_stays_decodable_in_every_format(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    size = 6_000_001
    scenario = Scenario(
        count=30, video_ratio=0.3, video_download_preparation=True, prep_delay_s=0.0
    )
    with start_simulator(scenario) as sim:
        picked: dict[str, dict[str, object]] = {}
        for element in sim.recordings():
            picked.setdefault(extension(element), element)
    indices = {ext: int(str(e["id"])) - 1 for ext, e in picked.items()}
    sized = scenario.model_copy(update={"size_bytes": dict.fromkeys(indices.values(), size)})
    with start_simulator(sized) as sim, client_for(sim) as client:
        for ext, element in picked.items():
            rid = str(element["recordingId"])
            path = tmp_path / f"big.{ext}"
            digest = hashlib.sha256()
            with client.stream("GET", DOWNLOAD.format(rid)) as response, path.open("wb") as out:
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    out.write(chunk)
            assert path.stat().st_size == size == sim.media_size(rid)
            assert digest.hexdigest() == sim.media_sha256(rid)
            assert probe_codecs(path) == EXPECTED_CODECS[ext]
            assert decode_errors(path) == ""


def test_server_stops_and_frees_its_port(start_simulator: StartSimulator) -> None:
    with start_simulator(Scenario(count=1)) as sim:
        base_url = sim.base_url
        assert httpx.get(f"{base_url}/ccaas/voice/2/recording/metadata").status_code == 401
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/ccaas/voice/2/recording/metadata", timeout=2)


def test_cli_serves_a_preset_and_logs_no_personal_data(
    simulator_cache_dir: Path,
) -> None:
    args = [sys.executable, "-m", "simulator", "--port", "0", "--scenario", "clean"]
    args += ["--count", "4", "--seed", "5", "--cache-dir", str(simulator_cache_dir)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"simulator base_url=(http://\S+) api_key=(\S+)\n", line)
        assert match, line
        base_url, key = match.groups()
        with httpx.Client(base_url=base_url, headers={"Authorization": f"App {key}"}) as client:
            body = client.get("/ccaas/voice/2/recording/metadata").json()
            assert body["total"] == 4
            person = body["elements"][0]
            name, identity = person["participantName"], person["participantIdentity"]
            found = client.get(
                "/ccaas/voice/2/recording/metadata", params={"participantName": name}
            ).json()
            assert person["recordingId"] in {e["recordingId"] for e in found["elements"]}
            rid = person["recordingId"]
            client.get(DOWNLOAD.format(rid))
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 0, stderr
    assert f"recording_id={rid}" in stderr, "requests are logged"
    assert name not in stderr and identity not in stderr
    assert key not in stderr


def test_cli_rejects_an_unknown_scenario_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--scenario", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "unknown scenario 'nope'" in result.stderr
