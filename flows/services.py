"""What every step works with: the adapters behind the ports, the policy, a clock, who acts.

``Services`` is a plain container: the steps take it as their first argument and never build
anything. The one place that builds it from settings is the composition root
(``recvault.wiring``); tests build it from in-memory fakes. Flows receive a small picklable
``ServicesFactory`` instead (Prefect sends flows and task arguments to workers) and open it in
the process that runs the work.
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from models.errors import ConfigError

if TYPE_CHECKING:  # types only: read-only commands import this without the adapters' libraries
    from flows.archive.known_keys import KnownKeys
    from models.policy.rules import Policy
    from models.ports import MessageSource, RecordingSource
    from models.settings import Settings
    from models.tables import Recording
    from storage.catalog.store import Catalog
    from storage.s3.check import BucketReport
    from storage.s3.store import ObjectStore
    from storage.workdir import WorkDir

COMPOSITION_ENTRY_POINT = "recvault.composition"


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_worker_id() -> str:
    """host:pid:random; the pid lets a later run on the same host see that a claimer died."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def default_actor() -> str:
    """``user@host``: who deleted or held something, for the certificates."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:128]


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    store: ObjectStore
    policy: Policy
    workdir: WorkDir | None = None  # only the archive wing downloads
    sources: Mapping[str, RecordingSource] = field(default_factory=dict)
    clock: Callable[[], datetime] = utc_now
    worker: str = field(default_factory=new_worker_id)
    actor: str = field(default_factory=default_actor)
    bucket: BucketReport | None = None  # filled by the run's bucket check
    evidence: ObjectStore | None = None  # where audit anchors go; None: the archive bucket
    known_keys: KnownKeys | None = None  # set by an archive run: which keys exist, per day

    @property
    def anchor_store(self) -> ObjectStore:
        return self.evidence or self.store

    @property
    def object_lock(self) -> bool:
        return bool(self.bucket and self.bucket.object_lock)

    @property
    def work(self) -> WorkDir:
        if self.workdir is None:
            raise ConfigError("this command has no work dir (only archive runs download)")
        return self.workdir

    @property
    def messages(self) -> MessageSource | None:
        """The configured source that holds conversation messages (None: none does)."""
        from models.ports import MessageSource

        for source in self.sources.values():
            if isinstance(source, MessageSource):
                return source
        return None

    def source_for(self, recording: Recording) -> RecordingSource:
        """The adapter of the source a recording came from."""
        source = self.sources.get(recording.source)
        if source is None:
            configured = ", ".join(sorted(self.sources)) or "none"
            raise ConfigError(
                f"recording {recording.recording_id} comes from source {recording.source!r}, "
                f"which is not configured here (configured: {configured}); set "
                "RECVAULT_SOURCES and the Infobip credentials"
            )
        return source


class ServicesFactory(Protocol):
    """Builds ``Services`` where the work runs; picklable, so flows can take it along."""

    def open(self) -> AbstractContextManager[Services]: ...


def factory_from_environment() -> ServicesFactory:
    """The composition root registered under the ``recvault.composition`` entry point, built
    from the worker's environment: how a deployed flow run gets its services without the
    flows importing the CLI package above them."""
    found = entry_points(group=COMPOSITION_ENTRY_POINT, name="default")
    if not found:
        raise ConfigError(
            f"no {COMPOSITION_ENTRY_POINT} entry point: install recvault (uv sync) on this worker"
        )
    factory_type = next(iter(found)).load()
    factory: ServicesFactory = factory_type.from_environment()
    return factory
