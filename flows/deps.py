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

from models.policy import Policy
from models.settings import Settings
from storage.catalog import Catalog
from storage.infobip import InfobipClient
from storage.s3 import BucketReport, ObjectStore
from storage.workdir import WorkDir


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


_current: Deps | None = None
_current_lock = threading.Lock()


@contextmanager
def use_deps(deps: Deps) -> Iterator[Deps]:
    """Make ``deps`` the process's collaborators for the duration of a flow run."""
    global _current
    with _current_lock:
        previous, _current = _current, deps
    try:
        yield deps
    finally:
        with _current_lock:
            _current = previous


def current_deps() -> Deps:
    if _current is None:
        raise RuntimeError("no Deps in use: wrap the flow body in use_deps(build_deps(settings))")
    return _current
