"""Download throughput: recvault's client against a bare httpx stream, side by side, one run.

    uv run python bench/bench_download.py [--mib 256] [--rounds 3]

Both read the same recording from the local simulator over HTTP. The bare stream only counts
bytes; recvault's client also hashes (SHA-256), writes and fsyncs the work file, and paces
itself with the rate limiter. The ratio is the price of that safety on this machine. Rounds
alternate the two so a noisy neighbour affects both alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from simulator.scenario import Scenario
from simulator.server import serve_in_thread
from storage.infobip.client import InfobipClient


def bare_stream(base_url: str, api_key: str, recording_id: str) -> int:
    total = 0
    headers = {"Authorization": f"App {api_key}"}
    url = f"{base_url}/ccaas/voice/2/recording/download/{recording_id}"
    with httpx.stream("GET", url, headers=headers, timeout=60) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes(1024 * 1024):
            total += len(chunk)
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    scenario = Scenario(count=1, video_ratio=0.0, mp3_ratio=0.0, size_bytes={0: size})
    with serve_in_thread(scenario) as sim, tempfile.TemporaryDirectory() as tmp:
        recording_id = sim.recordings()[0]["recordingId"]
        client = InfobipClient(sim.base_url, sim.api_key)
        bare: list[float] = []
        ours: list[float] = []
        for round_no in range(args.rounds):
            start = time.perf_counter()
            assert bare_stream(sim.base_url, sim.api_key, recording_id) == size
            bare.append(time.perf_counter() - start)
            dest = Path(tmp) / f"round-{round_no}.wav"
            start = time.perf_counter()
            result = client.download(recording_id, dest)
            ours.append(time.perf_counter() - start)
            assert result.size_bytes == size
            dest.unlink()
        client.close()
    mib = size / 1024 / 1024
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"file {mib:.0f} MiB, {args.rounds} rounds (median)")
    print(f"bare httpx stream        {mib / b:8.1f} MiB/s")
    print(f"recvault download        {mib / o:8.1f} MiB/s  (sha256 + write + fsync)")
    print(f"ratio recvault/bare time {o / b:8.2f}x")


if __name__ == "__main__":
    main()
