"""A 1 GiB download from the simulator (its own process) with the memory of both sides sampled."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from simulator.scenario import Scenario
from simulator.state import SimulatorState
from storage.infobip.client import InfobipClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIZE = 1024**3
MAX_GROWTH = 64 * 1024**2
MiB = 1024**2


class PeakRss:
    """Samples the resident memory of some processes in a thread; keeps each one's peak."""

    def __init__(self, *processes: psutil.Process) -> None:
        self.processes = processes
        self.peaks = [p.memory_info().rss for p in processes]
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            for i, process in enumerate(self.processes):
                self.peaks[i] = max(self.peaks[i], process.memory_info().rss)
            self.samples += 1

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def simulator_process(
    tmp_path: Path, simulator_cache_dir: Path
) -> Iterator[tuple[Scenario, str, psutil.Process]]:
    scenario = Scenario(seed=99, count=1, video_ratio=0.0, mp3_ratio=0.0, size_bytes={0: SIZE})
    path = tmp_path / "scenario.json"
    path.write_text(scenario.model_dump_json())
    args = [sys.executable, "-m", "simulator", "--port", "0", "--scenario", str(path)]
    args += ["--cache-dir", str(simulator_cache_dir)]
    with (tmp_path / "simulator.log").open("w") as log:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            assert proc.stdout is not None
            match = re.match(r"simulator base_url=(\S+) ", proc.stdout.readline())
            assert match, (tmp_path / "simulator.log").read_text()
            yield scenario, match[1], psutil.Process(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def test_one_gib_download_keeps_memory_flat(
    simulator_process: tuple[Scenario, str, psutil.Process],
    tmp_path: Path,
    simulator_cache_dir: Path,
    report: Callable[[str], None],
) -> None:
    scenario, base_url, server = simulator_process
    local = SimulatorState(scenario, cache_dir=simulator_cache_dir)
    rid = str(local.recordings()[0]["recordingId"])
    dest = tmp_path / "big.wav"
    with InfobipClient(base_url, scenario.api_key) as client:
        client.get_account_recording_config()  # warm both sides: imports, connection, pools
        me = psutil.Process()
        base_client, base_server = me.memory_info().rss, server.memory_info().rss
        with PeakRss(me, server) as rss:
            started = time.monotonic()
            result = client.download(rid, dest, expected_size_bytes=SIZE)
            elapsed = time.monotonic() - started
    try:
        assert result.size_bytes == SIZE == dest.stat().st_size
        assert result.resumes == 0
        assert result.sha256 == local.media_body(local.recording(rid)).sha256()
    finally:
        dest.unlink(missing_ok=True)
    client_growth = rss.peaks[0] - base_client
    server_growth = rss.peaks[1] - base_server
    report(
        f"1 GiB download: {elapsed:.1f} s = {SIZE / elapsed / 1e6:.0f} MB/s; peak RSS client "
        f"{rss.peaks[0] / MiB:.0f} MiB (+{client_growth / MiB:.1f}), simulator "
        f"{rss.peaks[1] / MiB:.0f} MiB (+{server_growth / MiB:.1f}); {rss.samples} samples"
    )
    assert rss.samples > 50, "the sampler ran throughout the download"
    assert client_growth < MAX_GROWTH
    assert server_growth < MAX_GROWTH
