"""The composition root: the only place that turns settings into adapters.

Commands build one ``ServicesFactory`` from the settings and hand it to flows or steps. The
factory is a small frozen value (settings and what to build), so Prefect can pickle it to a
worker; ``open()`` builds the adapters in the process that uses them, once: the tasks of one
run in one process share its services (connection pools, the Infobip rate limiters), and the
last one to leave closes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from flows.services import Services
from models.errors import ConfigError
from models.settings import Settings, load_settings
from storage.catalog.store import Catalog

if TYPE_CHECKING:
    from fastapi import FastAPI

    from auditor.services import AuditorServices
    from models.ports import RecordingSource, SharedRateLimits
    from storage.infobip.conversations import ConversationsSource
    from storage.s3.store import ObjectStore


def shared_rate_limits(settings: Settings) -> SharedRateLimits | None:
    """Prefect global rate limits where runs report to a Prefect server (many workers may share
    one Infobip account); none for a run in process without one."""
    if not settings.shared_rate_limits or not os.environ.get("PREFECT_API_URL"):
        return None
    from flows.ratelimits import PrefectRateLimits

    return PrefectRateLimits()


def build_conversations(
    settings: Settings, shared: SharedRateLimits | None = None
) -> ConversationsSource:
    """The Conversations source with the configured profile (``RECVAULT_VIDEO_READINESS``,
    ``RECVAULT_SOURCE_DELETION`` and the routes); calls-files deletion gets a Calls API
    client of its own to find and delete the file a recording maps to."""
    from storage.infobip.calls import CallsSource
    from storage.infobip.client import InfobipClient
    from storage.infobip.conversations import ConversationsSource

    deletion = settings.source_deletion
    return ConversationsSource(
        InfobipClient.from_settings(settings, shared_limits=shared),
        video_readiness=settings.video_readiness,
        deletion=deletion,
        calls_files=(
            CallsSource.from_settings(settings, shared_limits=shared)
            if deletion == "calls-files"
            else None
        ),
    )


def build_sources(settings: Settings) -> dict[str, RecordingSource]:
    """The configured sources (``RECVAULT_SOURCES``), each built once."""
    # Imported here: read-only commands need neither httpx nor the Infobip adapters.
    from storage.infobip.calls import CallsSource

    sources: dict[str, RecordingSource] = {}
    shared = shared_rate_limits(settings)
    for name in settings.sources:
        if name == "conversations":
            sources[name] = build_conversations(settings, shared)
        elif name == "calls":
            sources[name] = CallsSource.from_settings(settings, shared_limits=shared)
        else:  # the settings validator only lets known names through
            raise ConfigError(f"RECVAULT_SOURCES: unknown source {name!r}")
    return sources


@dataclass(frozen=True)
class ServicesFactory:
    """``archive``: sources and a work dir (an archive run); otherwise only what retention,
    holds and erasure need, with sources only when ``sources`` (deleting source copies)."""

    settings: Settings
    archive: bool = True
    sources: bool = True

    _open: ClassVar[dict[tuple[int, str], tuple[Services, int]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def from_environment(cls) -> ServicesFactory:
        return cls(load_settings())

    def _identity(self) -> str:
        secret = self.settings.infobip_api_key
        values = {
            **self.settings.model_dump(mode="json"),
            "key": hashlib.sha256(secret.get_secret_value().encode()).hexdigest() if secret else "",
            "archive": self.archive,
            "sources": self.sources,
        }
        return json.dumps(values, sort_keys=True, default=str)

    def _require(self) -> None:
        self.settings.require("s3_bucket")
        if self.sources:
            self.settings.require("infobip_base_url", "infobip_api_key")

    def build(self) -> Services:
        from models.policy.rules import Policy
        from storage.s3.store import ObjectStore
        from storage.workdir import WorkDir

        self._require()
        settings = self.settings
        policy = Policy.load(settings.policy_file)
        store = ObjectStore.from_settings(settings)
        catalog = Catalog.open(settings.resolved_database_url)
        try:
            sources = build_sources(settings) if self.sources else {}
        except BaseException:
            catalog.close()
            raise
        workdir = (
            WorkDir(settings.resolved_work_dir, max_bytes=settings.work_dir_max_bytes)
            if self.archive
            else None
        )
        return Services(
            settings=settings,
            catalog=catalog,
            store=store,
            policy=policy,
            workdir=workdir,
            sources=sources,
            evidence=evidence_store(settings),
        )

    @contextmanager
    def open(self) -> Iterator[Services]:
        # Keyed by process and content: a forked or spawned worker builds its own, and a copy
        # of the factory (Prefect may copy task arguments) finds the same services.
        key = (os.getpid(), self._identity())
        with self._lock:
            entry = self._open.get(key)
            if entry is None:
                entry = (self.build(), 0)
            services, users = entry
            self._open[key] = (services, users + 1)
        try:
            yield services
        finally:
            with self._lock:
                services, users = self._open[key]
                if users == 1:
                    del self._open[key]
                else:
                    self._open[key] = (services, users - 1)
            if users == 1:
                close_services(services)


def close_services(services: Services) -> None:
    for source in services.sources.values():
        source.close()
    services.catalog.close()


def open_reader(settings: Settings) -> Catalog:
    """The catalog for read-only commands: never migrates; an older schema gets a one-line
    "run recvault db upgrade"."""
    return Catalog.open(settings.resolved_database_url, migrate=False)


def open_writer(settings: Settings) -> Catalog:
    """The catalog for commands that change it without a run (``recvault retry``): migrated
    to this version's schema like every writer."""
    return Catalog.open(settings.resolved_database_url)


def evidence_store(settings: Settings) -> ObjectStore | None:
    """The bucket of the audit anchors when it is not the archive's (same endpoint and
    credentials); None means the archive bucket."""
    from storage.s3.store import ObjectStore

    name = settings.audit_anchor_bucket
    if name is None or name == settings.s3_bucket:
        return None
    return ObjectStore.from_settings(settings.model_copy(update={"s3_bucket": name}))


def build_auditor(settings: Settings) -> AuditorServices:
    """The auditor API's services: the catalog opened read-only (never migrated), the archive
    store for presigned links, the token file, and holds through the same retention services
    ``recvault hold`` uses (opened per hold action)."""
    from auditor.holds import FlowsHoldDesk
    from auditor.services import AuditorServices
    from auditor.tokens import TokenBook
    from storage.s3.store import ObjectStore

    settings.require("s3_bucket")
    store = ObjectStore.from_settings(settings)
    catalog = open_reader(settings)
    return AuditorServices(
        reader=catalog,
        access_log=catalog,
        links=store,
        tokens=TokenBook(settings.resolved_auditor_tokens),
        holds=FlowsHoldDesk(ServicesFactory(settings, archive=False, sources=False)),
        url_ttl_s=settings.auditor_url_ttl_s,
        closers=(catalog.close, store.close),
    )


def build_auditor_app(settings: Settings) -> FastAPI:
    from auditor.app import create_app

    return create_app(build_auditor(settings))
