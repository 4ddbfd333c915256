"""Two archive runs at once, reporting to one Prefect server, stay together within the
download rate configured for the account: each request takes a slot of a Prefect global rate
limit. Counted as requests per second at the simulator."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest

from simulator.scenario import Scenario
from storage.catalog.store import Catalog
from tests.fixtures.archive import MakeRunEnv
from tests.fixtures.db import PgServer, fresh_pg_database
from tests.fixtures.prefect_server import PrefectServer

pytestmark = [
    pytest.mark.flow,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.xdist_group("prefect-server"),
]

RATE_PER_S = 1
SCENARIO = Scenario(seed=61, count=10, video_ratio=0.0, media_duration_s=0.2)


WINDOW_S = 4.0


def _busiest(times: list[float], window_s: float = WINDOW_S) -> int:
    """The most requests within any ``window_s`` seconds."""
    times = sorted(times)
    best = start = 0
    for end, at in enumerate(times):
        while at - times[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "per-process"])
def test_two_runs_share_the_download_rate(
    shared: bool,
    prefect_server: PrefectServer,
    pg_server: PgServer,
    start_simulator: Any,
    make_bucket: Any,
    make_run_env: MakeRunEnv,
) -> None:
    with fresh_pg_database(pg_server.require()) as catalog_url, start_simulator(SCENARIO) as sim:
        run_env = make_run_env(
            sim,
            bucket=make_bucket(),
            catalog_url=catalog_url,
            RECVAULT_DOWNLOAD_RATE_PER_S=str(RATE_PER_S),
            RECVAULT_CONCURRENCY="4",
            RECVAULT_SHARED_RATE_LIMITS=str(shared).lower(),
        )
        env = {**os.environ, **run_env.values, **prefect_server.env()}
        args = [
            sys.executable,
            "-m",
            "recvault",
            "archive",
            "--since",
            (SCENARIO.start - timedelta(days=1)).isoformat(),
            "--until",
            (SCENARIO.start + timedelta(days=2)).isoformat(),
        ]
        runs = [
            subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        for run in runs:
            _, err = run.communicate(timeout=300)
            assert run.returncode == 0, err.decode()[-2000:]
        with Catalog.open(catalog_url, migrate=False) as catalog:
            assert catalog.counts_by_state() == {"ARCHIVED": SCENARIO.count}
        downloads = sim.state.times("download")
        assert len(downloads) >= SCENARIO.count
        busiest, allowed = _busiest(downloads), int(RATE_PER_S * WINDOW_S) + 1
        if shared:  # the window's decay plus the one slot held at its start
            assert busiest <= allowed, busiest
        else:  # the control: two runs on their own buckets go past the account's rate
            assert busiest > allowed, busiest
