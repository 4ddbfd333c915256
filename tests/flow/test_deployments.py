"""What users deploy, run as deployed: a real Prefect server, ``recvault serve`` serving the
deployments from one process, and ``deployments/prefect.yaml`` deployed to a process work pool
and run by a worker. Each run archives the simulator's recordings into moto's S3 and ends
Completed; the catalog then holds every recording ARCHIVED."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.scenario import Scenario
from storage.catalog.store import Catalog
from tests.fixtures.archive import MakeRunEnv
from tests.fixtures.prefect_server import PrefectServer, prefect_cli
from tests.fixtures.profile import HYPOTHESIS_ENV

pytestmark = [
    pytest.mark.flow,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.xdist_group("prefect-server"),
]

REPO = Path(__file__).resolve().parents[2]
SCENARIO = Scenario(seed=11, count=6, video_ratio=0.34, prep_delay_s=0.2)
RUN_TIMEOUT_S = 240


class _RetryUnavailable(httpx.HTTPTransport):
    """Retries 503 as Prefect's own client does: its SQLite answers 503 while locked under load."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + 60
        while True:
            response = super().handle_request(request)
            if response.status_code != 503 or time.monotonic() > deadline:
                return response
            response.close()
            time.sleep(1)


def _api(server: PrefectServer) -> httpx.Client:
    return httpx.Client(base_url=server.api_url, timeout=10, transport=_RetryUnavailable())


def _deployment_id(server: PrefectServer, name: str, *, wait_s: float = 90) -> str:
    deadline = time.monotonic() + wait_s
    with _api(server) as api:
        while True:
            answer = api.get(f"/deployments/name/{name}")
            if answer.status_code == 200:
                deployment_id: str = answer.json()["id"]
                return deployment_id
            if time.monotonic() > deadline:
                raise AssertionError(f"deployment {name} never appeared ({answer.status_code})")
            time.sleep(0.5)


def _run_and_wait(server: PrefectServer, name: str, parameters: dict[str, Any]) -> str:
    """Starts a run of deployment ``name`` and waits for its final state's type."""
    deployment_id = _deployment_id(server, name)
    with _api(server) as api:
        created = api.post(
            f"/deployments/{deployment_id}/create_flow_run", json={"parameters": parameters}
        )
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            state = api.get(f"/flow_runs/{run_id}").json()["state"]
            if state and state["type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
                return f"{state['type']}: {state.get('message') or ''}"
            time.sleep(1)
    raise AssertionError(f"flow run of {name} did not finish in {RUN_TIMEOUT_S} s")


@contextmanager
def _background(args: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("w") as out:
        proc = subprocess.Popen(args, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _archived(catalog_url: str) -> int:
    with Catalog.open(catalog_url, migrate=False) as catalog:
        return catalog.counts_by_state().get("ARCHIVED", 0)


def _window() -> dict[str, str]:
    return {
        "since": (SCENARIO.start - timedelta(days=1)).isoformat(),
        "until": (SCENARIO.start + timedelta(days=2)).isoformat(),
    }


def test_served_deployment_run_completes(
    prefect_server: PrefectServer,
    start_simulator: Any,
    make_bucket: Any,
    make_run_env: MakeRunEnv,
    tmp_path: Path,
) -> None:
    catalog_url = f"sqlite:///{tmp_path / 'served.db'}"
    with start_simulator(SCENARIO) as sim:
        run_env = make_run_env(sim, bucket=make_bucket(), catalog_url=catalog_url, **HYPOTHESIS_ENV)
        env = {**os.environ, **run_env.values, **prefect_server.env()}
        with _background([sys.executable, "-m", "recvault", "serve"], env, tmp_path / "serve.log"):
            final = _run_and_wait(prefect_server, "archive-recordings/archive-scheduled", _window())
        assert final.startswith("COMPLETED"), final + (tmp_path / "serve.log").read_text()[-3000:]
        assert _archived(catalog_url) == SCENARIO.count


def test_deployed_run_through_a_worker_completes(
    prefect_server: PrefectServer,
    start_simulator: Any,
    make_bucket: Any,
    make_run_env: MakeRunEnv,
    tmp_path: Path,
) -> None:
    catalog_url = f"sqlite:///{tmp_path / 'deployed.db'}"
    prefect = prefect_cli()
    cli_env = {**os.environ, **prefect_server.env()}
    pool = subprocess.run(
        [prefect, "work-pool", "create", "recvault-archive", "--type", "process"],
        env=cli_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert pool.returncode == 0 or "already exists" in pool.stdout, pool.stdout + pool.stderr
    deploy = subprocess.run(
        [
            prefect,
            "--no-prompt",
            "deploy",
            "--prefect-file",
            "deployments/prefect.yaml",
            "--name",
            "backfill",
        ],
        env=cli_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    with start_simulator(SCENARIO) as sim:
        run_env = make_run_env(sim, bucket=make_bucket(), catalog_url=catalog_url, **HYPOTHESIS_ENV)
        env = {**cli_env, **run_env.values, "RECVAULT_CHECKOUT": str(REPO)}
        worker = [prefect, "worker", "start", "--pool", "recvault-archive"]
        with _background(worker, env, tmp_path / "worker.log"):
            final = _run_and_wait(prefect_server, "backfill-recordings/backfill", _window())
        assert final.startswith("COMPLETED"), final + (tmp_path / "worker.log").read_text()[-3000:]
        assert _archived(catalog_url) == SCENARIO.count
