"""``recvault demo``: the whole product on embedded defaults, in one command.

Starts the Infobip simulator (seeded audio and video recordings, some not ready yet, some whose
video preparation fails) and a moto S3 server over HTTP with a versioned Object Lock bucket,
points recvault at them with a SQLite catalog in a fresh folder, archives everything, and
prints the run summary, the catalog and a full verification.

This module is the one place in production code that may import the simulator and moto, and
only inside functions, after ``require_demo_extra``: both belong to the ``demo`` extra (and the
dev group), which a production install leaves out (docs/architecture.md, "The simulator rule").
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import boto3
from rich.console import Console

from models.errors import ConfigError
from models.settings import load_settings

# Importable names the dev-only commands need, with the requirement that brings each one: the
# simulator runs on starlette and uvicorn, the local S3 is moto's server (flask underneath).
DEMO_EXTRA_MODULES = {
    "moto": "moto[server]",
    "flask": "moto[server]",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
}
DEMO_BUCKET = "recvault-demo-archive"
_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def require_demo_extra(command: str) -> None:
    """Refuse a dev-only command with one line (exit 2) when the demo extra is not installed."""
    for module, requirement in DEMO_EXTRA_MODULES.items():
        if importlib.util.find_spec(module) is None:
            raise ConfigError(
                f"recvault {command} needs the demo extra ({requirement} is not installed): "
                "run uv sync in a recvault checkout, or pip install 'recvault[demo]'"
            )


def serve_simulator(
    scenario: str,
    *,
    host: str,
    port: int,
    count: int | None,
    seed: int | None,
    strict: bool = False,
) -> None:
    """``recvault simulator serve``: the Infobip simulator over HTTP until interrupted;
    ``strict``: only the routes Infobip publishes, videos through the account switch."""
    require_demo_extra("simulator serve")
    from simulator.scenario import load_scenario
    from simulator.server import serve

    strict_fields = {"strict": True, "video_download_preparation": True} if strict else {}
    chosen = load_scenario(scenario, count=count, seed=seed, **strict_fields)
    serve(chosen, host=host, port=port)


@contextmanager
def moto_s3() -> Iterator[str]:
    """A moto S3 server over real HTTP on a free port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def create_lock_bucket(endpoint_url: str, bucket: str) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=_FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=_FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    )
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_demo(console: Console, *, count: int, keep: bool) -> None:
    require_demo_extra("demo")
    from recvault.cli.render import print_summary, print_verify_report, recordings_table
    from recvault.cli.runner import run_archive_cli
    from recvault.cli.verify import run_verify
    from recvault.wiring import ServicesFactory, open_reader
    from simulator.scenario import load_scenario
    from simulator.server import serve_in_thread

    # moto's server logs every request through werkzeug; the demo shows its own summary instead.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # One line per task run drowns the summary in a demo; flow-level lines stay. Prefect reads
    # this when it sets up logging on import, which has not happened yet here.
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "WARNING")
    scenario = load_scenario("demo", count=count)
    data_dir = Path(tempfile.mkdtemp(prefix="recvault-demo-"))
    started = time.monotonic()
    try:
        with serve_in_thread(scenario) as sim, moto_s3() as endpoint:
            create_lock_bucket(endpoint, DEMO_BUCKET)
            settings = load_settings(
                infobip_base_url=sim.base_url,
                infobip_api_key=sim.api_key,
                s3_bucket=DEMO_BUCKET,
                s3_endpoint_url=endpoint,
                data_dir=data_dir,
                prepare_poll_s=0.5,
                prepare_wait_s=30,
                retry_backoff_s=1,
            )
            console.print(
                f"[bold]recvault demo[/]: simulator {sim.base_url} ({count} recordings), "
                f"S3 {endpoint} bucket {DEMO_BUCKET} (versioned, Object Lock), "
                f"catalog {data_dir / 'recvault.db'}"
            )
            # boto3 reads its credentials from the environment, like any AWS tool.
            with _environment(_FAKE_AWS):
                since = scenario.start - timedelta(days=1)
                summary = run_archive_cli(
                    ServicesFactory(settings), since, None, progress=console.is_terminal
                )
                print_summary(console, summary)
                with open_reader(settings) as catalog:
                    console.print(recordings_table(catalog.search()))
                print_verify_report(console, run_verify(settings, progress=False, deep=True))
        console.print(f"demo finished in {time.monotonic() - started:.1f} s")
        if keep:
            console.print(f"demo data kept in {data_dir}")
    finally:
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
