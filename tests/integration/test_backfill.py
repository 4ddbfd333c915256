"""Backfills: chunked, resumable, never moving the schedule's watermark (simulator over HTTP,
moto's S3 server, SQLite; the CLI as a child process without a Prefect server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.archive.run import thread_pool
from flows.backfill.run import run_backfill
from flows.services import Services
from models.policy.rules import Policy
from models.settings import Settings
from models.tables import Backfill
from simulator.scenario import Scenario
from storage.catalog.store import Catalog
from storage.infobip.conversations import ConversationsSource
from storage.workdir import WorkDir
from tests.fixtures.archive import MakeRunEnv
from tests.fixtures.simulator import infobip_client

pytestmark = [pytest.mark.integration]

# Ten legs six hours apart: a little over two days, so three daily chunks.
SCENARIO = Scenario(seed=31, count=10, spacing_s=6 * 3600, video_ratio=0.0)
SINCE = SCENARIO.start - timedelta(hours=1)
UNTIL = SCENARIO.start + timedelta(days=3) - timedelta(hours=1)


def test_backfill_through_the_cli_archives_the_period_and_keeps_the_watermark(
    start_simulator: Any, make_bucket: Any, make_run_env: MakeRunEnv, tmp_path: Path
) -> None:
    catalog_url = f"sqlite:///{tmp_path / 'c.db'}"
    with start_simulator(SCENARIO) as sim:
        env = make_run_env(sim, bucket=make_bucket(), catalog_url=catalog_url)
        # The schedule has run up to now: an empty recent window sets its watermark.
        recent = env.cli("archive", "--since", (datetime.now(UTC) - timedelta(hours=1)).isoformat())
        assert recent.returncode == 0, recent.stderr
        with Catalog.open(catalog_url, migrate=False) as catalog:
            watermark = catalog.last_window_end()
        assert watermark is not None

        result = env.cli(
            "backfill",
            "--since",
            SINCE.isoformat(),
            "--until",
            UNTIL.isoformat(),
            "--chunk",
            "1d",
            "--json",
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert (report["chunks_done"], report["chunks_total"]) == (3, 3)
        assert report["listed"] >= SCENARIO.count

        with Catalog.open(catalog_url, migrate=False) as catalog:
            assert catalog.counts_by_state() == {"ARCHIVED": SCENARIO.count}
            assert catalog.last_window_end() == watermark  # the schedule is not rewound
            chunk_events = [e for e in catalog.audit_events() if e.event == "backfill_chunk_done"]
            assert len(chunk_events) == 3

        bad = env.cli(
            "backfill", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(), "--chunk", "1w"
        )
        assert bad.returncode == 2 and "--chunk: '1w' is not a length" in bad.stderr


class Interrupted(Exception):
    pass


def test_an_interrupted_backfill_resumes_at_its_cursor(
    start_simulator: Any, make_store: Any, s3_bucket: str, tmp_path: Path
) -> None:
    with (
        start_simulator(SCENARIO) as sim,
        Catalog.open(f"sqlite:///{tmp_path / 'c.db'}") as catalog,
    ):
        client = infobip_client(sim)
        services = Services(
            settings=Settings(_env_file=None, retry_backoff_s=0, prepare_wait_s=0),
            catalog=catalog,
            store=make_store(s3_bucket),
            policy=Policy.load(None),
            workdir=WorkDir(tmp_path / "work", max_bytes=1024**3),
            sources={"conversations": ConversationsSource(client)},
        )
        seen: list[int] = []

        def crash_after_first_chunk(state: Backfill) -> None:
            seen.append(state.chunks_done)
            if state.chunks_done == 1:
                raise Interrupted

        try:
            with thread_pool(services) as submit, pytest.raises(Interrupted):
                run_backfill(
                    services,
                    SINCE,
                    UNTIL,
                    chunk=timedelta(days=1),
                    submit=submit,
                    on_chunk=crash_after_first_chunk,
                )
            first_chunk = catalog.counts_by_state()
            assert 0 < first_chunk["ARCHIVED"] < SCENARIO.count  # only the first day so far

            chunks: list[int] = []
            with thread_pool(services) as submit:
                report = run_backfill(
                    services,
                    SINCE,
                    UNTIL,
                    chunk=timedelta(days=1),
                    submit=submit,
                    on_chunk=lambda state: chunks.append(state.chunks_done),
                )
            assert chunks[0] == 1  # resumed after the first chunk, not from the start
            assert (report.chunks_done, report.chunks_total) == (3, 3)
            assert catalog.counts_by_state() == {"ARCHIVED": SCENARIO.count}
            events = [e.event for e in catalog.audit_events() if e.event.startswith("backfill")]
            assert events.count("backfill_started") == 1
            assert events.count("backfill_resumed") == 1
            assert events.count("backfill_chunk_done") == 3
        finally:
            client.close()
