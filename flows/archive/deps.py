"""The composition root of the pipeline: builds every collaborator from settings, once per process.

Tasks take small values (recording ids), never clients; they look up the process's ``Deps``
here, so the Infobip rate limiter and connection pools are shared by all worker threads.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from models.policy.rules import Policy
from models.settings import Settings
from storage.catalog.store import Catalog
from storage.infobip.client import InfobipClient
from storage.s3.store import BucketReport, ObjectStore
from storage.workdir import WorkDir

T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_worker_id() -> str:
    """host:pid:random; the pid lets a later run on the same host see that a claimer died."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Deps:
    settings: Settings
    infobip: InfobipClient
    store: ObjectStore
    catalog: Catalog
    policy: Policy
    workdir: WorkDir
    clock: Callable[[], datetime] = utc_now
    worker: str = field(default_factory=new_worker_id)
    bucket: BucketReport | None = None  # filled by the preflight check

    @property
    def object_lock(self) -> bool:
        return bool(self.bucket and self.bucket.object_lock)

    def close(self) -> None:
        self.infobip.close()
        self.catalog.close()


def build_deps(settings: Settings) -> Deps:
    workdir = WorkDir(settings.resolved_work_dir, max_bytes=settings.work_dir_max_bytes)
    policy = Policy.load(settings.policy_file)
    catalog = Catalog.open(settings.resolved_database_url)
    try:
        return Deps(
            settings=settings,
            infobip=InfobipClient.from_settings(settings),
            store=ObjectStore.from_settings(settings),
            catalog=catalog,
            policy=policy,
            workdir=workdir,
        )
    except BaseException:
        catalog.close()
        raise


class InUse(Generic[T]):
    """The collaborators of the flow run in progress in this process, for its tasks to find."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._value: T | None = None
        self._lock = threading.Lock()

    @contextmanager
    def use(self, value: T) -> Iterator[T]:
        with self._lock:
            previous, self._value = self._value, value
        try:
            yield value
        finally:
            with self._lock:
                self._value = previous

    def get(self) -> T:
        if self._value is None:
            raise RuntimeError(f"no {self._what} in use: wrap the flow body in its use()")
        return self._value


_archive_deps: InUse[Deps] = InUse("Deps")
use_deps = _archive_deps.use
current_deps = _archive_deps.get
