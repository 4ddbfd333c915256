"""Faults of the machine around a run: a full disk under the work dir, a catalog database that
goes away for a moment. Same rules as the matrix: a documented state, then a later run (or the
same one) finishes every recording, and ``verify --deep``'s checks pass."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from flows.archive import steps
from flows.archive.flow import archive_recordings
from models.errors import CatalogUnavailable
from simulator.scenario import ConnectionFault, RecordingPick, Scenario
from storage.catalog.store import Catalog
from tests.fixtures.archive import MakeRunEnv
from tests.fixtures.db import PgServer, fresh_pg_database
from tests.fixtures.faults import TcpProxy, check_archive, work_dir_files, write_policy
from tests.fixtures.s3 import MakeStore
from tests.fixtures.simulator import StartSimulator

pytestmark = [pytest.mark.integration, pytest.mark.flow]

KiB, MiB = 1024, 1024 * 1024
CUT_S = 0.8  # shorter than the archive task's first retry delay (1 s)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 384 KiB tmpfs: a real file system that fills up (needs mount rights)."""
    mountpoint = tmp_path / "tmpfs-work"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=384k,mode=0755", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        reason = (mounted.stderr or mounted.stdout).strip().splitlines()[-1:] or ["no output"]
        pytest.skip(f"cannot mount a tmpfs here ({reason[0]}): disk-full case needs mount rights")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def _remount(mountpoint: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mountpoint)], check=True)


def test_disk_full_under_the_work_dir_defers_until_there_is_room(
    prefect_harness: None,
    tiny_tmpfs: Path,
    start_simulator: StartSimulator,
    make_run_env: MakeRunEnv,
    make_store: MakeStore,
    s3_bucket: str,
    catalog_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = Scenario(seed=31, count=4, video_ratio=0.0, size_bytes={0: 1 * MiB})
    with start_simulator(scenario) as sim:
        make_run_env(
            sim,
            bucket=s3_bucket,
            catalog_url=catalog_url,
            RECVAULT_POLICY_FILE=str(write_policy(tmp_path / "policy.toml")),
            RECVAULT_WORK_DIR=str(tiny_tmpfs),
            RECVAULT_CONCURRENCY="1",
            RECVAULT_PREPARE_WAIT_S="0",
            RECVAULT_RETRY_BACKOFF_S="0.5",
        ).apply(monkeypatch)
        big = sim.recordings()[0]["recordingId"]
        since = scenario.start_at - timedelta(hours=1)
        store = make_store(s3_bucket)

        archive_recordings(since=since)
        with Catalog.open(catalog_url) as catalog:
            states = {r.recording_id: r for r, _ in catalog.search()}
        assert states[big].state == "READY" and states[big].attempts == 0
        assert "has" in (states[big].last_error or "") and "bytes free" in (
            states[big].last_error or ""
        )
        assert {rid for rid, r in states.items() if r.state == "ARCHIVED"} == set(states) - {big}
        # The download that did not fit was removed: the disk is free for the others.
        assert work_dir_files(tiny_tmpfs) == []
        check_archive(catalog_url, store)

        _remount(tiny_tmpfs, "4m")
        time.sleep(0.6)
        archive_recordings(since=since)
        with Catalog.open(catalog_url) as catalog:
            assert catalog.counts_by_state() == {"ARCHIVED": 4}
        check_archive(catalog_url, store, work_dir=tiny_tmpfs)


def _audit_count(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one())
    except sa.exc.SQLAlchemyError:
        return 0
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "cut_after_events",
    [
        pytest.param(0, id="cut-when-claiming"),
        pytest.param(14, id="cut-mid-pipeline"),  # discovery's 8 events and a few steps
    ],
)
def test_catalog_database_gone_for_a_moment(
    cut_after_events: int,
    prefect_harness: None,
    pg_server: PgServer,
    tcp_proxy: Any,
    start_simulator: StartSimulator,
    make_run_env: MakeRunEnv,
    make_store: MakeStore,
    s3_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    report: Callable[[str], None],
) -> None:
    """PostgreSQL behind a proxy that resets every connection and refuses new ones for a
    moment, cut when the run loop claims or while recordings are in flight; the first run still
    completes (tasks retry, the loop rides it out). The shared server is never touched."""
    server = pg_server.require()
    # Slow downloads (a drop and a resume each) keep recordings in flight when the cut comes.
    scenario = Scenario(
        seed=37,
        count=8,
        video_ratio=0.0,
        drop=ConnectionFault(recordings=RecordingPick(ratio=1.0)),
    )
    with fresh_pg_database(server) as direct_url, start_simulator(scenario) as sim:
        url = make_url(direct_url)
        proxy: TcpProxy = tcp_proxy((url.host or "127.0.0.1", url.port or 5432))
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        make_run_env(
            sim,
            bucket=s3_bucket,
            catalog_url=proxied,
            RECVAULT_POLICY_FILE=str(write_policy(tmp_path / "policy.toml")),
        ).apply(monkeypatch)
        since = scenario.start_at - timedelta(hours=1)

        def cut_when_busy() -> None:
            deadline = time.monotonic() + 30
            while _audit_count(direct_url) < cut_after_events and time.monotonic() < deadline:
                time.sleep(0.01)
            proxy.cut()
            time.sleep(CUT_S)
            proxy.restore()

        if cut_after_events:
            cutter = threading.Thread(target=cut_when_busy, daemon=True)
        else:
            # Cut exactly when the run loop claims its first batch, before any task runs.
            cutter = threading.Timer(CUT_S, proxy.restore)
            real_claimable = steps.claimable

            def claim_into_outage(deps: Any, limit: int, *scope: Any) -> list[str]:
                if proxy.cuts == 0:
                    proxy.cut()
                    cutter.start()
                return real_claimable(deps, limit, *scope)

            monkeypatch.setattr(steps, "claimable", claim_into_outage)
        if cut_after_events:
            cutter.start()
        outcome = "completed"
        try:
            archive_recordings(since=since)
        except CatalogUnavailable as exc:
            outcome = f"stopped: {exc}"
        cutter.join(timeout=40)
        assert proxy.cuts == 1
        report(f"catalog cut for {CUT_S} s after {cut_after_events} events: first run {outcome}")
        assert outcome == "completed"

        archive_recordings(since=since)
        with Catalog.open(direct_url) as catalog:
            assert catalog.counts_by_state() == {"ARCHIVED": 8}
        check_archive(direct_url, make_store(s3_bucket), work_dir=tmp_path / "data" / "work")
