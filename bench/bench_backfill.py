"""A large backfill on PostgreSQL with several workers, then a reconciliation.

    uv run python bench/bench_backfill.py [--count 10000] [--workers 4] [--chunk 6h]
        [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test] [--derivative auto|none]

Starts the simulator (``--count`` audio legs a few minutes apart) in this process and a moto S3
server in its own (so the two do not share one interpreter lock), creates a fresh PostgreSQL
database, and runs ``--workers`` ``recvault backfill`` processes over the same period at once
(each recording is claimed by exactly one of them). Then runs ``recvault reconcile`` over the
period and prints: wall time, recordings per second, the busiest second of metadata and
download requests at the simulator against the configured limits, the catalog's states and
what reconcile reported.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import boto3
import httpx
import sqlalchemy as sa

from simulator.scenario import Scenario
from simulator.server import serve_in_thread

POLICY_WITHOUT_DERIVATIVE = """
version = 1
[[rules]]
name = "everything"
retention = "7y"
object_lock_mode = "none"
delete_source = "never"
derivative = "none"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(endpoint: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(endpoint, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"moto server at {endpoint} did not start")


def busiest_second(times: list[float]) -> int:
    times = sorted(times)
    best = start = 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--chunk", default="6h")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--derivative",
        choices=["auto", "none"],
        default="auto",
        help="the policy's playback copy: auto (the default policy's Opus) or none",
    )
    args = parser.parse_args()
    port = _free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    _wait_for(endpoint)
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="b",
        aws_secret_access_key="b",  # noqa: S106 - a local fake
    )
    s3.create_bucket(Bucket="bench-backfill", ObjectLockEnabledForBucket=True)
    name = f"recvault_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    catalog_url = sa.make_url(args.pg).set(database=name).render_as_string(hide_password=False)
    scenario = Scenario(
        seed=7, count=args.count, spacing_s=120, video_ratio=0.0, media_duration_s=1.0
    )
    since = scenario.start - timedelta(hours=1)
    until = scenario.start + timedelta(seconds=120 * args.count + 7200)
    try:
        with serve_in_thread(scenario) as sim, tempfile.TemporaryDirectory() as work:
            env = {
                **os.environ,
                "AWS_ACCESS_KEY_ID": "b",
                "AWS_SECRET_ACCESS_KEY": "b",
                "AWS_DEFAULT_REGION": "us-east-1",
                "RECVAULT_INFOBIP_BASE_URL": sim.base_url,
                "RECVAULT_INFOBIP_API_KEY": sim.api_key,
                "RECVAULT_S3_BUCKET": "bench-backfill",
                "RECVAULT_S3_ENDPOINT_URL": endpoint,
                "RECVAULT_DATABASE_URL": catalog_url,
                "RECVAULT_RETRY_BACKOFF_S": "1",
                "RECVAULT_PREPARE_WAIT_S": "0",
            }
            if args.derivative == "none":
                policy = Path(work) / "policy.toml"
                policy.write_text(POLICY_WITHOUT_DERIVATIVE)
                env["RECVAULT_POLICY_FILE"] = str(policy)
            env.pop("PREFECT_API_URL", None)
            window = ["--since", since.isoformat(), "--until", until.isoformat()]
            upgrade = subprocess.run(
                [sys.executable, "-m", "recvault", "db", "upgrade"], env=env, check=False
            )
            if upgrade.returncode:
                raise SystemExit("db upgrade failed")
            started = time.perf_counter()
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "recvault", "backfill", *window, "--chunk", args.chunk],
                    env={**env, "RECVAULT_WORK_DIR": str(Path(work) / f"w{n}")},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                for n in range(args.workers)
            ]
            for proc in procs:
                _, err = proc.communicate()
                if proc.returncode:
                    raise SystemExit(f"backfill failed: {err.decode()[-1000:]}")
            wall = time.perf_counter() - started
            reconcile = subprocess.run(
                [sys.executable, "-m", "recvault", "reconcile", *window, "--json"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            report = json.loads(reconcile.stdout)
            engine = sa.create_engine(catalog_url)
            with engine.connect() as conn:
                states: dict[str, int] = dict(
                    conn.execute(sa.text("SELECT state, count(*) FROM recordings GROUP BY state"))
                    .tuples()
                    .all()
                )
            engine.dispose()
            downloads = sim.state.times("download")
            metadata = sim.state.times("metadata")
    finally:
        moto.terminate()
        moto.wait()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(
        f"| figure | value |  ({args.count} recordings, {args.workers} workers, "
        f"derivative {args.derivative})"
    )
    print("|---|---|")
    print(f"| wall time | {wall:.1f} s |")
    print(f"| recordings/s | {args.count / wall:.1f} |")
    print(f"| downloads (requests) | {len(downloads)} |")
    print(f"| busiest second, downloads | {busiest_second(downloads)} (limit 100/s per process) |")
    print(f"| busiest second, metadata | {busiest_second(metadata)} (limit 10/s + burst 20) |")
    print(f"| catalog states | {states} |")
    print(f"| reconcile exit / ok | {reconcile.returncode} / {report['ok']} |")
    print(f"| reconcile totals | {report['totals']} |")


if __name__ == "__main__":
    main()
