"""The side-by-side runs: recvault's CLI, the naive script and the raw copy over the same
scenario, each against a fresh simulator, bucket and catalog, repetitions interleaved so a
noisy neighbour slows all of them alike."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.infra import Child, Infra, module_argv, recvault_argv, run_child, spread, window
from simulator.scenario import (
    ConnectionFault,
    NotReadyFault,
    RecordingPick,
    RequestFault,
    Scenario,
)

MB = 1_000_000
LATENCY_S = 0.05  # per request, as to a distant API

# The fault mix: drops and lying lengths mid-download, 429 bursts, 5xx, bytes that change.
FAULTS: dict[str, Any] = {
    "drop": ConnectionFault(recordings=RecordingPick(ratio=0.03)),
    "truncate": ConnectionFault(recordings=RecordingPick(ratio=0.01)),
    "rate_limit": RequestFault(first_n=3, rate=0.02),
    "server_errors": RequestFault(rate=0.02),
    "changing_bytes": RecordingPick(count=2),
}


def mixed(count: int) -> Scenario:
    """Audio legs and some video (prepared through the account switch), faults on."""
    return Scenario(
        seed=11,
        count=count,
        spacing_s=60,
        video_ratio=0.1,
        media_duration_s=8.0,
        video_download_preparation=True,
        prep_delay_s=2.0,
        latency_s=LATENCY_S,
        **FAULTS,
    )


def small() -> Scenario:
    """16 recordings: audio legs, video needing preparation, a 48 MB file whose connection
    drops, bytes that change, 429 bursts, 5xx, drops; two recordings not final for a long
    while (they wait for a later run)."""
    return Scenario(
        seed=5,
        count=16,
        video_ratio=0.25,
        media_duration_s=8.0,
        video_download_preparation=True,
        prep_delay_s=3.0,
        latency_s=LATENCY_S,
        size_bytes={0: 48 * MB},
        drop=ConnectionFault(recordings=RecordingPick(indices=(0,), count=1)),
        changing_bytes=RecordingPick(count=1),
        rate_limit=RequestFault(first_n=5),
        server_errors=RequestFault(first_n=3),
        not_ready=NotReadyFault(
            recordings=RecordingPick(count=2), in_progress_listings=None, in_progress_s=3600
        ),
    )


def audio_only(count: int, *, faults: bool) -> Scenario:
    return Scenario(
        seed=13,
        count=count,
        video_ratio=0.0,
        media_duration_s=8.0,
        latency_s=LATENCY_S,
        **(FAULTS if faults else {}),
    )


def one_file(size_bytes: int) -> Scenario:
    return Scenario(seed=17, count=1, video_ratio=0.0, mp3_ratio=0.0, size_bytes={0: size_bytes})


@dataclass
class Run:
    impl: str
    child: Child
    requests: dict[str, int]
    bytes_served: int
    media_bytes: int
    recordings: int


IMPLS: dict[str, Callable[[list[str]], list[str]]] = {
    "recvault": lambda w: recvault_argv("archive", *w, "--json"),
    "naive": lambda w: module_argv("bench.naive", *w),
    "raw": lambda w: module_argv("bench.rawcopy", *w),
}


def run_once(infra: Infra, impl: str, scenario: Scenario, *, again: bool = False) -> list[Run]:
    """One run of ``impl`` on a fresh simulator, bucket and catalog; with ``again`` a second
    run right after it (the no-op rerun) is returned too."""
    runs: list[Run] = []
    bucket = infra.bucket(locked=impl == "recvault")
    run_dir = infra.run_dir()
    try:
        with infra.simulator(scenario) as sim:
            env = infra.env(sim, bucket, run_dir)
            argv = IMPLS[impl](window(scenario))
            ids = [e["recordingId"] for e in sim.recordings()]
            media = sum(sim.media_size(rid) for rid in ids)
            for _ in range(2 if again else 1):
                before = sim.request_counts
                served = sim.bytes_served()
                child = run_child(argv, env)
                if child.returncode != 0:
                    # Reported, not fatal: the table shows the run's outcomes as they were.
                    sys.stderr.write(f"bench: {impl} exited {child.returncode}: ")
                    sys.stderr.write(child.stderr.strip()[-800:] + "\n")
                sys.stderr.write(
                    f"bench:   {impl} {scenario.count} recordings: {child.wall_s:.1f} s, "
                    f"CPU {child.cpu_s:.1f} s, peak RSS {child.peak_rss_mb:.0f} MB\n"
                )
                counts = sim.request_counts - before
                requests = {f"{name} {code}": n for (name, code), n in sorted(counts.items())}
                runs.append(
                    Run(impl, child, requests, sim.bytes_served() - served, media, len(ids))
                )
    finally:
        infra.drop_bucket_quietly(bucket)
    return runs


def outcomes(run: Run) -> dict[str, Any]:
    try:
        parsed: dict[str, Any] = json.loads(run.child.stdout)
    except ValueError:
        return {}
    return dict(parsed.get("outcomes", parsed))


def get_count(run: Run, status: int | None = None, endpoint: str = "download") -> int:
    total = 0
    for key, n in run.requests.items():
        name, code = key.rsplit(" ", 1)
        if name == endpoint and (status is None or int(code) == status):
            total += n
    return total


def download_figures(run: Run) -> dict[str, float]:
    """Per recording: non-faulted download GETs (200 and 206: a drop mid-body still counts),
    full downloads (200), and bytes served in units of the recordings' own size."""
    n = run.recordings
    ok = get_count(run, 200) + get_count(run, 206)
    return {
        "download_gets": ok / n,
        "full_downloads": get_count(run, 200) / n,
        "bytes_ratio": run.bytes_served / run.media_bytes,
        "metadata_gets": get_count(run, None, "metadata") / n,
    }


def throughput(runs: list[Run]) -> dict[str, Any]:
    walls = [r.child.wall_s for r in runs]
    return {
        "wall_s": spread(walls),
        "recordings_per_s": spread([r.recordings / w for r, w in zip(runs, walls, strict=True)]),
        "mb_per_s": spread([r.media_bytes / MB / w for r, w in zip(runs, walls, strict=True)]),
        "cpu_s_per_recording": spread([r.child.cpu_s / r.recordings for r in runs]),
        "peak_rss_mb": spread([r.child.peak_rss_mb for r in runs]),
        "tree_rss_mb": spread([r.child.tree_rss_mb for r in runs]),
        "outcomes": outcomes(runs[-1]),
    }
