"""Two ``recvault archive`` processes at once.

PostgreSQL: both run; recordings are claimed with ``FOR UPDATE SKIP LOCKED``, so every recording
is archived exactly once (one object version per key, one ``archived`` event, one object row per
kind), and the two runs' summaries add up to the whole window.

SQLite: one run at a time. A second run while the first holds the catalog is refused: exit 6 and
a one-line message that says what to do; the first run is unaffected.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from simulator.scenario import ConnectionFault, RecordingPick, Scenario
from storage.catalog.store import Catalog
from tests.fixtures.archive import MakeRunEnv
from tests.fixtures.db import PgServer, fresh_pg_database, sqlite_url
from tests.fixtures.faults import CliForker, check_archive, object_versions, write_policy
from tests.fixtures.profile import HYPOTHESIS_ENV
from tests.fixtures.s3 import MakeStore, MotoServer
from tests.fixtures.simulator import StartSimulator

pytestmark = [pytest.mark.integration, pytest.mark.flow, pytest.mark.slow]

SCENARIO = Scenario(
    seed=47,
    count=12,
    video_ratio=0.0,
    drop=ConnectionFault(recordings=RecordingPick(ratio=0.3)),
)


def _lock_holder(url: str) -> str | None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT holder FROM run_locks WHERE name = 'archive-run'")
            return conn.execute(query).scalar_one_or_none()
    except sa.exc.OperationalError:
        return None  # the catalog is not created yet
    finally:
        engine.dispose()


def _argv() -> list[str]:
    since = SCENARIO.start_at - timedelta(hours=1)
    return ["archive", "--since", since.isoformat(), "--json"]


@pytest.mark.postgres
def test_two_runs_on_postgresql_archive_each_recording_once(
    cli_forker: CliForker,
    pg_server: PgServer,
    start_simulator: StartSimulator,
    make_run_env: MakeRunEnv,
    make_store: MakeStore,
    moto_server: MotoServer,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    with fresh_pg_database(pg_server.require()) as url, start_simulator(SCENARIO) as sim:
        # The catalog exists (migrated) before both start, as in production.
        Catalog.open(url).close()
        env = {
            **os.environ,
            **make_run_env(sim, bucket=s3_bucket, catalog_url=url, RECVAULT_CONCURRENCY="3").values,
        }
        first = cli_forker.start(_argv(), env, tmp_path / "a")
        second = cli_forker.start(_argv(), env, tmp_path / "b")
        results = [cli_forker.wait(first), cli_forker.wait(second)]
        for result in results:
            assert result.code == 0, result.stderr[-3000:]
        archived = [json.loads(r.stdout)["outcomes"].get("archived", 0) for r in results]
        assert sum(archived) == len(sim.recordings()), archived

        with Catalog.open(url) as catalog:
            assert catalog.counts_by_state() == {"ARCHIVED": len(sim.recordings())}
            events = Counter(
                (e.recording_id, e.event) for e in catalog.audit_events() if e.recording_id
            )
            rows = catalog.search()
        for row, objects in rows:
            assert events[(row.recording_id, "archived")] == 1
            assert events[(row.recording_id, "discovered")] == 1
            assert sorted(o.kind for o in objects) == ["original", "transcoded"]
        versions = object_versions(moto_server, s3_bucket)
        assert len(versions) == 2 * len(rows)
        assert len({key for key, _ in versions}) == len(versions), "an object uploaded twice"
        check_archive(url, make_store(s3_bucket), work_dir=tmp_path / "data" / "work")


def test_second_run_on_sqlite_is_refused_with_exit_6(
    cli_forker: CliForker,
    start_simulator: StartSimulator,
    make_run_env: MakeRunEnv,
    make_store: MakeStore,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path / "catalog.db")
    # Video preparation keeps the first run busy (holding the lock) while the second starts.
    scenario = SCENARIO.model_copy(update={"count": 4, "video_ratio": 1.0, "prep_delay_s": 2.0})
    policy = write_policy(tmp_path / "policy.toml")
    with start_simulator(scenario) as sim:
        run_env = make_run_env(
            sim,
            bucket=s3_bucket,
            catalog_url=url,
            RECVAULT_POLICY_FILE=str(policy),
            **HYPOTHESIS_ENV,  # video preparation through the section 9 route keeps it busy
        )
        env = {**os.environ, **run_env.values}
        first = cli_forker.start(_argv(), env, tmp_path / "a")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if _lock_holder(url) is not None:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the first run never took the SQLite catalog's run lock")
        refused = cli_forker.run(_argv(), env, tmp_path / "b")
        done = cli_forker.wait(first)

        assert done.code == 0, done.stderr[-3000:]
        assert refused.code == 6, refused.stderr[-3000:]
        (line,) = [line for line in refused.stderr.splitlines() if line.strip()]
        assert line.startswith("recvault: error: another recvault archive run is using"), line
        assert "PostgreSQL" in line
        assert refused.stdout == ""
        with Catalog.open(url) as catalog:
            assert catalog.counts_by_state() == {"ARCHIVED": len(sim.recordings())}
        check_archive(url, make_store(s3_bucket), work_dir=tmp_path / "data" / "work")
