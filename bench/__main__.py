"""recvault side by side with a naive script and the raw copy limit, in one run.

    uv run python -m bench [--quick] [--count N] [--reps N] [--json FILE] [--pg URL]

Starts a moto S3 server in this process and, for each run, a fresh simulator (per-request
latency, the fault mix), bucket and catalog. recvault runs through its real CLI
(``recvault archive``, in process, no Prefect server); the naive script (``bench.naive``) and
the raw copy (``bench.rawcopy``) run as child processes too. Repetitions alternate the
implementations; the table shows min / median and the ratio of the mins. ``--quick`` runs
fewer recordings and repetitions (a few minutes); the full run, 500 recordings and a 4 GB
file, takes longer. Figures from a shared machine are noisy: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import micro, runs
from bench.infra import infra, spread

log = logging.getLogger("bench")


def section(name: str) -> None:
    sys.stderr.write(f"bench: {name} ({time.strftime('%H:%M:%S')})\n")


def measure(args: argparse.Namespace, root: Path, out: dict[str, Any]) -> None:
    quick = args.quick
    count = args.count or (60 if quick else 500)
    reps = args.reps or (2 if quick else 3)
    sizes = [100_000_000, 1_000_000_000] + ([] if quick else [4_000_000_000])
    out.update({"quick": quick, "count": count, "reps": reps})
    with infra(root) as env:
        section(f"throughput, {count} mixed recordings x{reps}")
        by_impl: dict[str, list[runs.Run]] = {name: [] for name in runs.IMPLS}
        for _ in range(reps):
            for impl in runs.IMPLS:
                by_impl[impl] += runs.run_once(env, impl, runs.mixed(count))
        out["throughput"] = {impl: runs.throughput(done) for impl, done in by_impl.items()}
        out["mixed_requests"] = {
            impl: runs.download_figures(done[-1]) for impl, done in by_impl.items()
        }

        section(f"small scenario x{reps}")
        first: dict[str, list[float]] = {"recvault": [], "naive": []}
        noop: dict[str, list[float]] = {"recvault": [], "naive": []}
        rss: dict[str, list[float]] = {"recvault": [], "naive": []}
        tree: dict[str, list[float]] = {"recvault": [], "naive": []}
        for _ in range(reps):
            for impl in first:
                a, b = runs.run_once(env, impl, runs.small(), again=True)
                first[impl].append(a.child.wall_s)
                noop[impl].append(b.child.wall_s)
                rss[impl].append(a.child.peak_rss_mb)
                tree[impl].append(a.child.tree_rss_mb)
                out.setdefault("small_outcomes", {})[impl] = [
                    runs.outcomes(a),
                    runs.outcomes(b),
                ]
        out["small"] = {
            "first_run_s": {k: spread(v) for k, v in first.items()},
            "noop_run_s": {k: spread(v) for k, v in noop.items()},
            "peak_rss_mb": {k: spread(v) for k, v in rss.items()},
            "tree_rss_mb": {k: spread(v) for k, v in tree.items()},
        }

        section("Infobip requests per audio recording, with and without faults")
        audio_n = 40 if quick else 200
        out["requests"] = {}
        for faults in (False, True):
            label = "faults" if faults else "clean"
            for impl in ("recvault", "naive"):
                (done,) = runs.run_once(env, impl, runs.audio_only(audio_n, faults=faults))
                out["requests"][f"{impl}_{label}"] = runs.download_figures(done)

        section(f"peak RSS for one recording of {sizes}")
        out["rss"] = {}
        for size in sizes:
            (done,) = runs.run_once(env, "recvault", runs.one_file(size))
            out["rss"][str(size)] = {
                "peak_rss_mb": done.child.peak_rss_mb,
                "tree_rss_mb": done.child.tree_rss_mb,
                "wall_s": done.child.wall_s,
                "mb_per_s": size / runs.MB / done.child.wall_s,
            }

    section("catalog state machine, transcode, search")
    pg = args.pg or os.environ.get("RECVAULT_TEST_PG_URL")
    out["state_machine"] = micro.state_machine(root, pg, seconds=3 if quick else 10)
    out["transcode"] = micro.transcode_cost(root, seconds_of_audio=120, reps=2 if quick else 5)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def table(r: dict[str, Any]) -> str:
    t = r["throughput"]
    lines = [
        f"recvault bench ({'quick' if r['quick'] else 'full'}; min / median of {r['reps']})",
        "",
        "| figure | recvault | naive script | raw copy | recvault vs naive | vs raw copy |",
        "|---|---|---|---|---|---|",
    ]

    def mm(d: dict[str, float], fmt: str = "{:.1f}") -> str:
        return f"{fmt.format(d['min'])} / {fmt.format(d['median'])}"

    for key, label in (("recordings_per_s", "recordings/s"), ("mb_per_s", "MB/s")):
        best = {impl: t[impl][key] for impl in t}
        lines.append(
            f"| {r['count']} mixed recordings, {label} (max / median) | "
            + " | ".join(
                f"{best[i]['max']:.2f} / {best[i]['median']:.2f}"
                for i in ("recvault", "naive", "raw")
            )
            + f" | {ratio(best['recvault']['median'], best['naive']['median'])}"
            + f" | {ratio(best['recvault']['median'], best['raw']['median'])} |"
        )
    lines.append(
        f"| {r['count']} mixed, wall s | "
        + " | ".join(mm(t[i]["wall_s"]) for i in ("recvault", "naive", "raw"))
        + " | | |"
    )
    lines.append(
        f"| {r['count']} mixed, peak RSS MB | "
        + " | ".join(mm(t[i]["peak_rss_mb"], "{:.0f}") for i in ("recvault", "naive", "raw"))
        + " | | |"
    )
    s = r["small"]
    for key, label in (("first_run_s", "first run"), ("noop_run_s", "rerun, nothing due")):
        rv, nv = s[key]["recvault"], s[key]["naive"]
        lines.append(
            f"| small scenario (16), {label}, s | {mm(rv)} | {mm(nv)} | | "
            f"{ratio(rv['min'], nv['min'])} | |"
        )
    for key, label in (("peak_rss_mb", "own process"), ("tree_rss_mb", "process tree")):
        rv, nv = s[key]["recvault"], s[key]["naive"]
        lines.append(
            f"| small scenario, peak RSS MB, {label} | {mm(rv, '{:.0f}')} | "
            f"{mm(nv, '{:.0f}')} | | {ratio(rv['min'], nv['min'])} | |"
        )
    q = r["requests"]
    for label in ("clean", "faults"):
        for key, name in (
            ("full_downloads", "full downloads"),
            ("download_gets", "download GETs (200/206)"),
            ("bytes_ratio", "bytes / file size"),
        ):
            a, b = q[f"recvault_{label}"][key], q[f"naive_{label}"][key]
            lines.append(f"| per audio recording, {label}: {name} | {a:.3f} | {b:.3f} | | | |")
    base = None
    for size, fig in r["rss"].items():
        base = base or fig["peak_rss_mb"]
        lines.append(
            f"| one {int(size) // 1_000_000} MB recording: peak RSS MB, own (tree; MB/s) | "
            f"{fig['peak_rss_mb']:.0f} ({fig['tree_rss_mb']:.0f}; {fig['mb_per_s']:.0f}) "
            "| | | | "
            f"{ratio(fig['peak_rss_mb'], base)} of the first |"
        )
    sm = r["state_machine"]
    for key, value in sm.items():
        lines.append(
            f"| state-machine commits/s, {key.replace('_', ', ')} worker(s) | {value:.0f} | | | | |"
        )
    raw_share = 1 - t["raw"]["wall_s"]["min"] / t["recvault"]["wall_s"]["min"]
    lines.append(f"| overhead share of a run beyond the raw copy | {raw_share:.0%} | | | | |")
    tc = r["transcode"]
    lines.append(
        f"| transcode {tc['seconds_of_audio']} s of voice to Opus, s | "
        f"{tc['recvault_s']['min']:.2f} | ffmpeg directly: {tc['ffmpeg_s']['min']:.2f} | | "
        f"{tc['ratio']:.2f}x of ffmpeg | |"
    )
    lines.append(
        "| catalog search p50 / p95 | measured apart: `python bench/bench_search.py` | | | | |"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer recordings, a few minutes")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--pg", help="admin URL of a PostgreSQL server for the catalog figures")
    parser.add_argument("--count", type=int, help="mixed recordings in the throughput figure")
    parser.add_argument("--reps", type=int, help="repetitions of the side-by-side runs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("werkzeug", "simulator", "uvicorn", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    started = time.monotonic()
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="recvault-bench-") as tmp:
            measure(args, Path(tmp), results)
    except BaseException:
        # What was measured before the failure is still worth keeping.
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
        raise
    results["total_s"] = time.monotonic() - started
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    sys.stdout.write(table(results) + "\n")
    sys.stdout.write(f"\n(total {results['total_s']:.0f} s; JSON in {args.json})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
