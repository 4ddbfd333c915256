"""CLI start-up: how long ``recvault`` commands with nothing to do take, as whole processes.

    uv run python bench/bench_startup.py [--rounds 5] [--other /path/to/other/checkout]

Starts the simulator and a moto S3 server in this process, archives a small account once per
implementation, then times, alternating round by round so a noisy neighbour affects all alike,
``recvault --help``, ``recvault catalog search`` and ``recvault archive`` with nothing new
(without ``PREFECT_API_URL``). ``--other`` times another checkout's recvault (its own
``.venv``) side by side, e.g. an older commit, each with its own catalog. Prints min / median /
max seconds per command.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import boto3

from simulator.scenario import Scenario
from simulator.server import serve_in_thread

HERE = Path(__file__).resolve().parents[1]
AWS = {"AWS_ACCESS_KEY_ID": "b", "AWS_SECRET_ACCESS_KEY": "b", "AWS_DEFAULT_REGION": "us-east-1"}
COMMANDS = {
    "--help": ["--help"],
    "catalog search": ["catalog", "search", "--limit", "5"],
    "archive, nothing new": ["archive"],
}


def _run(python: Path, argv: list[str], env: dict[str, str]) -> float:
    # Run from the checkout: ``python -m`` puts the working directory first on sys.path.
    checkout = python.parents[2]
    started = time.perf_counter()
    done = subprocess.run(
        [str(python), "-m", "recvault", *argv],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"{python} {argv}: {done.stderr[-500:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--other", type=Path, help="another recvault checkout to compare")
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="b",
        aws_secret_access_key="b",  # noqa: S106 - a local fake
    )
    checkouts = {"this": HERE, **({"other": args.other.resolve()} if args.other else {})}
    scenario = Scenario(seed=5, count=8, video_ratio=0.0)
    times: dict[tuple[str, str], list[float]] = {}
    with serve_in_thread(scenario) as sim, tempfile.TemporaryDirectory() as data:
        envs = {}
        for label, checkout in checkouts.items():
            bucket = f"bench-{label}"
            s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
            env = {
                **os.environ,
                **AWS,
                "RECVAULT_INFOBIP_BASE_URL": sim.base_url,
                "RECVAULT_INFOBIP_API_KEY": sim.api_key,
                "RECVAULT_S3_BUCKET": bucket,
                "RECVAULT_S3_ENDPOINT_URL": endpoint,
                "RECVAULT_DATA_DIR": str(Path(data) / label),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            }
            env.pop("PREFECT_API_URL", None)
            python = checkout / ".venv" / "bin" / "python"
            since = (scenario.start - timedelta(days=1)).isoformat()
            _run(python, ["archive", "--since", since], env)
            envs[label] = (python, env)
        for _ in range(args.rounds):
            for name, argv in COMMANDS.items():
                for label, (python, env) in envs.items():
                    times.setdefault((name, label), []).append(_run(python, argv, env))
    moto.stop()
    print(f"| command | checkout | min s | median s | max s |  ({args.rounds} rounds)")
    print("|---|---|---|---|---|")
    for (name, label), values in times.items():
        print(
            f"| {name} | {label} | {min(values):.2f} | {statistics.median(values):.2f} "
            f"| {max(values):.2f} |"
        )


if __name__ == "__main__":
    main()
