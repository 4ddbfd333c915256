"""``services()``: a ``flows.services.Services`` over the fakes, for steps and the run loop.

The catalog is the real one on a SQLite file in the test's tmp_path (it is SQL, and SQLite is
fast); migrating a new file costs ~0.2 s, so each process migrates one template once and every
test gets a copy of it. The work dir is the real ``WorkDir`` under tmp_path. Everything else
is in memory: ``FakeSource``, ``FakeStore``, ``FakeClock``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from flows.archive import steps
from flows.archive.common import DiscoverReport, StepReport
from flows.services import Services
from models.policy.rules import Policy
from models.ports import RecordingSource
from models.settings import Settings
from models.tables import Recording
from storage.catalog.store import Catalog
from storage.s3.store import ObjectStore
from storage.workdir import WorkDir
from tests.unit.fakes.clock import FakeClock
from tests.unit.fakes.source import T0, FakeSource
from tests.unit.fakes.store import FakeStore

# The original only (no ffmpeg transcode), locked for a year where the bucket has Object Lock.
ORIGINAL_ONLY = Policy.loads(
    """
version = 1
[[rules]]
name = "original-only"
retention = "1y"
object_lock_mode = "GOVERNANCE"
derivative = "none"
"""
)
# Settings where every wait is visible and countable: back-off 30 s doubling, 3 attempts.
UNIT_SETTINGS: dict[str, Any] = {
    "s3_bucket": FakeStore.bucket,
    "max_attempts": 3,
    "retry_backoff_s": 30.0,
    "prepare_poll_s": 5.0,
    "prepare_wait_s": 0.0,
    "not_ready_retry_s": 300.0,
    "concurrency": 4,
    "list_overlap_s": 0,
}

_template_lock = threading.Lock()
_template: Path | None = None


def _catalog_template() -> Path:
    """A migrated, empty SQLite catalog, made once per process."""
    global _template
    with _template_lock:
        if _template is None:
            folder = Path(tempfile.mkdtemp(prefix="recvault-catalog-template-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            path = folder / "template.db"
            Catalog.open(f"sqlite:///{path}").close()
            _template = path
        return _template


def fresh_catalog(folder: Path, kind: type[Catalog] = Catalog) -> Catalog:
    """A migrated catalog in ``folder`` (a copy of the process's template), of class ``kind``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "catalog.db"
    shutil.copyfile(_catalog_template(), path)
    return kind.open(f"sqlite:///{path}")


@dataclass
class FakeServices(Services):
    """``Services`` that also hand out the fakes behind them, typed."""

    fake_source: FakeSource = field(default_factory=FakeSource)
    fake_store: FakeStore = field(default_factory=FakeStore)
    fake_clock: FakeClock = field(default_factory=lambda: FakeClock(T0))

    def close(self) -> None:
        self.catalog.close()

    # --- driving the steps the way a run does ------------------------------------------------

    def discover(self) -> DiscoverReport:
        """List everything the fake source holds (from a day before ``T0`` until now)."""
        return steps.discover(self, since=T0 - timedelta(days=1), until=self.clock())

    def due(self) -> list[str]:
        """The recordings a run would claim now (claimed and released again)."""
        claimed = steps.claimable(self, 1000)
        for recording_id in claimed:
            self.catalog.release(recording_id, worker=self.worker)
        return claimed

    def advance(self, recording_id: str) -> StepReport:
        """Claim ``recording_id`` as a run would (it must be due) and process it."""
        claimed = steps.claimable(self, 1000)
        for other in claimed:
            if other != recording_id:
                self.catalog.release(other, worker=self.worker)
        if recording_id not in claimed:
            raise AssertionError(f"{recording_id} is not due at {self.clock()} (due: {claimed})")
        return steps.process_recording(self, recording_id)

    def row(self, recording_id: str) -> Recording:
        return self.catalog.get(recording_id)

    def events(self, recording_id: str) -> list[tuple[str, str | None, str | None]]:
        """(event, from_state, to_state) of the recording's audit trail, oldest first."""
        return [
            (e.event, e.from_state, e.to_state) for e in self.catalog.audit_events(recording_id)
        ]

    def transitions(self, recording_id: str) -> list[tuple[str | None, str | None]]:
        """The state changes only (events that moved the recording)."""
        return [(f, t) for _, f, t in self.events(recording_id) if f != t]


def services(
    tmp_path: Path,
    *,
    policy: Policy = ORIGINAL_ONLY,
    now: datetime | None = None,
    running_clock: bool = False,
    object_lock: bool = True,
    work_dir_max_bytes: int = 64 * 1024 * 1024,
    catalog: Catalog | None = None,
    **settings: Any,
) -> FakeServices:
    """Services over a ``FakeSource`` named "conversations", a ``FakeStore`` and a catalog.

    The clock starts a day after the fake recordings (``now``), stopped unless
    ``running_clock``; ``settings`` override ``UNIT_SETTINGS``. ``bucket`` is filled as a run's
    bucket check fills it, so steps run alone lock objects as in a run. Call ``close()``.
    """
    clock = FakeClock(now or T0.replace(day=2), running=running_clock)
    source = FakeSource("conversations")
    store = FakeStore(clock, object_lock=object_lock)
    values = {**UNIT_SETTINGS, "data_dir": tmp_path / "data", **settings}
    config = Settings(_env_file=None, **values)
    workdir = WorkDir(tmp_path / "work", max_bytes=work_dir_max_bytes)
    workdir.prepare()
    built = FakeServices(
        settings=config,
        catalog=catalog or fresh_catalog(tmp_path / "catalog"),
        store=cast(ObjectStore, store),
        policy=policy,
        workdir=workdir,
        sources={source.name: cast(RecordingSource, source)},
        clock=clock,
        worker="unit-worker",
        actor="unit@test",
        fake_source=source,
        fake_store=store,
        fake_clock=clock,
    )
    built.bucket = store.ensure_usable(
        require_object_lock=policy.requires_object_lock, require_versioning=True
    )
    store.calls.clear()
    return built
