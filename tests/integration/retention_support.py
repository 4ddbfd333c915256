"""Helpers for the retention tests: archive a simulated account for real, then drive a clock.

``archive_all`` runs the archive pipeline's own steps (discover, then ``process_recording`` until
nothing is claimable) against the simulator over HTTP, moto's S3 server and the catalog, so the
retention tests start from recordings that were really downloaded, uploaded, locked and
verified. No Prefect: the flow itself is tested elsewhere, and this keeps each seed to seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flows.archive import steps
from flows.services import Services
from models.policy.rules import Policy
from models.settings import Settings
from simulator.server import SimulatorServer
from storage.catalog.store import Catalog
from storage.infobip.conversations import ConversationsSource
from storage.s3.store import ObjectStore
from storage.workdir import WorkDir
from tests.fixtures.profile import HYPOTHESIS_PROFILE
from tests.fixtures.simulator import infobip_client

TEST_IDENTITY_KEY = "test-identity-key-not-a-secret"


class Clock:
    """An injectable clock that only moves when a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return when


def fast_settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        retry_backoff_s=0,
        max_attempts=2,
        prepare_poll_s=0.2,
        prepare_wait_s=0,
        not_ready_retry_s=3600,
        **values,
    )


def archive_all(
    sim: SimulatorServer,
    *,
    catalog: Catalog,
    store: ObjectStore,
    policy: Policy,
    clock: Clock,
    tmp_path: Path,
    since: datetime,
    until: datetime,
) -> int:
    """Archives everything the simulator lists in the window; returns how many got ARCHIVED."""
    settings = fast_settings(tmp_path)
    client = infobip_client(sim, backoff_scale=0.01)
    deps = Services(
        settings=settings,
        sources={"conversations": ConversationsSource(client, **HYPOTHESIS_PROFILE)},
        store=store,
        catalog=catalog,
        policy=policy,
        workdir=WorkDir(tmp_path / "work", max_bytes=1024**3),
        clock=clock,
    )
    try:
        deps.work.prepare()
        deps.bucket = store.check_bucket()
        steps.discover(deps, since=since, until=until)
        archived = 0
        for _ in range(10):  # video preparation may need a second pass
            ids = steps.claimable(deps, 50)
            if not ids:
                break
            for recording_id in ids:
                report = steps.process_recording(deps, recording_id)
                archived += report.outcome == steps.Outcome.ARCHIVED
        return archived
    finally:
        client.close()


@contextmanager
def retention_deps(
    sim: SimulatorServer,
    *,
    catalog: Catalog,
    store: ObjectStore,
    policy: Policy,
    clock: Clock,
    settings: Settings | None = None,
) -> Iterator[Services]:
    client = infobip_client(sim, backoff_scale=0.01)
    try:
        yield Services(
            settings=settings or Settings(_env_file=None, identity_key=TEST_IDENTITY_KEY),
            catalog=catalog,
            store=store,
            policy=policy,
            sources={"conversations": ConversationsSource(client, **HYPOTHESIS_PROFILE)},
            clock=clock,
            actor="tester@retention-tests",
        )
    finally:
        client.close()


def versions_in_bucket(store: ObjectStore, prefix: str = "") -> list[tuple[str, str | None]]:
    return sorted((v.key, v.version_id) for v in store.iter_versions(prefix))


def certificates(catalog: Catalog, recording_id: str) -> list[dict[str, Any]]:
    wanted = {"source_deleted", "archive_expired", "archive_erased"}
    return [
        {"event": e.event, **(e.detail or {})}
        for e in catalog.audit_events(recording_id)
        if e.event in wanted
    ]
