"""Claims on recordings are renewed while the work goes on; a claim lost all the same makes the
recording skip, without crashing the run (simulator over HTTP, moto's S3, SQLite)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flows.archive import steps
from flows.services import Services
from models.policy.rules import Policy
from models.ports import Download
from models.settings import Settings
from models.tables import Recording
from simulator.scenario import Scenario
from storage.catalog.store import Catalog
from storage.infobip.conversations import ConversationsSource
from storage.workdir import WorkDir
from tests.fixtures.simulator import infobip_client

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LEASE_S = 3
SCENARIO = Scenario(seed=21, count=1, video_ratio=0.0)


class SlowSource(ConversationsSource):
    """The real Conversations source, whose downloads wait for the test to let them go on."""

    def __init__(self, *args: Any, release: threading.Event) -> None:
        super().__init__(*args)
        self.release = release
        self.downloads = 0

    def download(
        self, recording: Recording, dest: Path, *, on_progress: Callable[[int], None] | None
    ) -> Download:
        self.downloads += 1
        assert self.release.wait(30)
        return super().download(recording, dest, on_progress=on_progress)


@contextmanager
def _two_workers(
    sim: Any, catalog_url: str, store: Any, tmp_path: Path
) -> Iterator[tuple[Services, Services, threading.Event, SlowSource]]:
    release = threading.Event()
    settings = Settings(_env_file=None, lease_s=LEASE_S, retry_backoff_s=0)
    client = infobip_client(sim)
    source = SlowSource(client, release=release)
    with Catalog.open(catalog_url) as catalog:

        def services(worker: str) -> Services:
            return Services(
                settings=settings,
                catalog=catalog,
                store=store,
                policy=Policy.load(None),
                workdir=WorkDir(tmp_path / worker, max_bytes=1024**3),
                sources={"conversations": source},
                worker=worker,
            )

        first, second = services("worker-a"), services("worker-b")
        first.work.prepare()
        second.work.prepare()
        first.bucket = store.check_bucket()
        try:
            yield first, second, release, source
        finally:
            release.set()
            client.close()


def test_a_recording_slower_than_the_lease_keeps_its_claim(
    start_simulator: Any, make_store: Any, s3_bucket: str, tmp_path: Path
) -> None:
    with (
        start_simulator(SCENARIO) as sim,
        _two_workers(sim, f"sqlite:///{tmp_path / 'c.db'}", make_store(s3_bucket), tmp_path) as (
            a,
            b,
            release,
            source,
        ),
    ):
        steps.discover(a, since=SCENARIO.start, until=SCENARIO.start.replace(year=2027))
        (recording_id,) = steps.claimable(a, 5)
        reports: list[steps.StepReport] = []
        worker = threading.Thread(
            target=lambda: reports.append(steps.process_recording(a, recording_id))
        )
        worker.start()
        # Two leases long, the other worker finds nothing to claim: the claim was renewed.
        for _ in range(4):
            time.sleep(LEASE_S / 2)
            assert steps.claimable(b, 5) == []
        release.set()
        worker.join(30)
        assert reports and reports[0].outcome == steps.Outcome.ARCHIVED
        assert source.downloads == 1
        assert a.catalog.get(recording_id).claimed_by is None


def test_a_claim_taken_over_makes_the_recording_skip_without_crashing(
    start_simulator: Any, make_store: Any, s3_bucket: str, tmp_path: Path
) -> None:
    catalog_url = f"sqlite:///{tmp_path / 'c.db'}"
    with (
        start_simulator(SCENARIO) as sim,
        _two_workers(sim, catalog_url, make_store(s3_bucket), tmp_path) as (a, _b, release, _s),
    ):
        steps.discover(a, since=SCENARIO.start, until=SCENARIO.start.replace(year=2027))
        (recording_id,) = steps.claimable(a, 5)
        reports: list[steps.StepReport] = []
        worker = threading.Thread(
            target=lambda: reports.append(steps.process_recording(a, recording_id))
        )
        worker.start()
        time.sleep(0.5)
        # As if worker-a's lease had run out and worker-b had claimed it.
        engine = sa.create_engine(catalog_url)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE recordings SET claimed_by = 'worker-b', "
                    "claimed_until = '2999-01-01 00:00:00' WHERE recording_id = :rid"
                ),
                {"rid": recording_id},
            )
        engine.dispose()
        release.set()
        worker.join(30)
        assert reports, "process_recording raised instead of skipping"
        assert reports[0].outcome == steps.Outcome.SKIPPED
        row = a.catalog.get(recording_id)
        assert row.claimed_by == "worker-b"  # not released by the worker that lost it
        # No commit of worker-a's: its READY was staged for the download's commit, and the
        # claim check refused that commit.
        assert row.state == "DISCOVERED"
