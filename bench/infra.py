"""What every benchmark run needs: a moto S3 server, a simulator per run, the environment for
recvault and the baselines, and a child process timed with its peak RSS."""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import psutil

from simulator.scenario import Scenario
from simulator.server import SimulatorServer, serve_in_thread

AWS = {"AWS_ACCESS_KEY_ID": "b", "AWS_SECRET_ACCESS_KEY": "b", "AWS_DEFAULT_REGION": "us-east-1"}
POLICY = (
    'version = 1\n[[rules]]\nname = "bench"\nretention = "1y"\nderivative = "none"\n'
    'object_lock_mode = "GOVERNANCE"\nobject_lock_required = false\n'
)


@dataclass(frozen=True)
class Child:
    """One finished child process: wall time, exit code, peak RSS and its output.

    ``peak_rss_mb`` is the process's own high-water mark (``VmHWM``, read while it runs);
    ``tree_rss_mb`` the largest sum of RSS over it and its descendants (ffprobe, ffmpeg) seen
    by sampling. ``wait4``'s ``ru_maxrss`` would not do: it keeps the high-water mark of the
    forked copy of this (large) benchmark process from before ``exec``.
    """

    wall_s: float
    returncode: int
    peak_rss_mb: float
    tree_rss_mb: float
    cpu_s: float  # user + system of the child and every descendant it waited for
    stdout: str
    stderr: str


def _hwm_kib(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for member in [proc, *proc.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def run_child(argv: list[str], env: dict[str, str], *, timeout_s: float = 3600) -> Child:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
        watched = psutil.Process(proc.pid)
        hwm = tree = 0
        while proc.poll() is None:
            hwm = max(hwm, _hwm_kib(proc.pid) or 0)
            with contextlib.suppress(psutil.Error):
                tree = max(tree, _tree_rss(watched))
            if time.perf_counter() - started > timeout_s:
                proc.kill()
            time.sleep(0.02)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        out.seek(0)
        err.seek(0)
        return Child(
            wall_s=wall,
            returncode=proc.returncode,
            peak_rss_mb=hwm / 1024,
            tree_rss_mb=tree / 1_048_576,
            cpu_s=cpu,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


@dataclass
class Infra:
    """One moto server for the whole benchmark; a fresh bucket per run."""

    endpoint: str
    root: Path
    clip_cache: Path
    s3: Any = field(repr=False)

    def bucket(self, *, locked: bool) -> str:
        name = f"bench-{uuid.uuid4().hex[:12]}"
        if locked:
            self.s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        else:
            self.s3.create_bucket(Bucket=name)
        return name

    def drop_bucket_quietly(self, name: str) -> None:
        """moto keeps objects in memory (large ones spill to disk): free them between runs.
        Objects under COMPLIANCE locks (audit anchors) stay; they are tiny."""
        from botocore.exceptions import ClientError

        paginator = self.s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=name):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                try:
                    self.s3.delete_object(
                        Bucket=name,
                        Key=item["Key"],
                        VersionId=item["VersionId"],
                        BypassGovernanceRetention=True,
                    )
                except ClientError:
                    continue

    def run_dir(self) -> Path:
        path = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))
        (path / "policy.toml").write_text(POLICY, encoding="utf-8")
        return path

    def env(self, sim: SimulatorServer, bucket: str, run: Path, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            **AWS,
            "RECVAULT_INFOBIP_BASE_URL": sim.base_url,
            "RECVAULT_INFOBIP_API_KEY": sim.api_key,
            "RECVAULT_S3_BUCKET": bucket,
            "RECVAULT_S3_ENDPOINT_URL": self.endpoint,
            "RECVAULT_DATABASE_URL": f"sqlite:///{run / 'catalog.db'}",
            "RECVAULT_DATA_DIR": str(run / "data"),
            "RECVAULT_POLICY_FILE": str(run / "policy.toml"),
            "RECVAULT_PREPARE_POLL_S": "1",
            # The baselines read no messages; a transcript is one Get messages request per
            # conversation, bound by Infobip's 500 a minute (README, Performance).
            "RECVAULT_TRANSCRIPTS": "off",
            # moto stands in for AWS S3, where ``auto`` means SHA-256 checksums: verification
            # is a HEAD, not a re-read of every object (what S3-compatible stores get).
            "RECVAULT_S3_CHECKSUM": "sha256",
            "NAIVE_DB": str(run / "naive.db"),
            "NAIVE_WORK": str(run / "naive-work"),
            **extra,
        }
        env.pop("PREFECT_API_URL", None)  # the CLI's in-process path: no Prefect server
        return env

    @contextmanager
    def simulator(self, scenario: Scenario) -> Iterator[SimulatorServer]:
        with serve_in_thread(scenario, cache_dir=self.clip_cache) as sim:
            yield sim


@contextmanager
def infra(root: Path) -> Iterator[Infra]:
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="b",
            aws_secret_access_key="b",  # noqa: S106 - a local fake's
        )
        yield Infra(endpoint, root, root / "clips", s3)
    finally:
        moto.stop()


def window(scenario: Scenario) -> list[str]:
    since = scenario.start_at - timedelta(hours=1)
    until = scenario.start_at + timedelta(seconds=scenario.spacing_s * scenario.count + 7200)
    return ["--since", since.isoformat(), "--until", until.isoformat()]


def recvault_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "recvault", *args]


def module_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def spread(values: list[float]) -> dict[str, float]:
    """min, median and max of the repetitions."""
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
        "n": len(values),
    }
