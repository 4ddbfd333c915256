"""What the retention steps work with: the catalog, the archive bucket, the policy, a clock, who
is acting, and (only to delete source copies) the Infobip client.

Separate from ``flows.archive.deps.Deps`` because holds, explanations and dry runs need neither
Infobip credentials nor a work dir.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from models.errors import ConfigError
from models.policy.rules import Policy
from models.settings import Settings
from storage.catalog.store import Catalog
from storage.infobip.client import InfobipClient
from storage.s3.store import ObjectStore


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_actor() -> str:
    """``user@host``: who deleted or held something, for the certificates."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:128]


@dataclass
class RetentionDeps:
    catalog: Catalog
    store: ObjectStore
    policy: Policy
    infobip: InfobipClient | None = None
    clock: Callable[[], datetime] = utc_now
    actor: str = field(default_factory=default_actor)

    def source(self) -> InfobipClient:
        if self.infobip is None:
            raise ConfigError(
                "deleting source copies needs RECVAULT_INFOBIP_BASE_URL and "
                "RECVAULT_INFOBIP_API_KEY"
            )
        return self.infobip

    def close(self) -> None:
        if self.infobip is not None:
            self.infobip.close()
        self.catalog.close()


def build_retention_deps(
    settings: Settings, *, source: bool, actor: str | None = None
) -> RetentionDeps:
    """``source``: also build the Infobip client (needed to delete source copies)."""
    settings.require("s3_bucket")
    if source:
        settings.require("infobip_base_url", "infobip_api_key")
    policy = Policy.load(settings.policy_file)
    store = ObjectStore.from_settings(settings)
    catalog = Catalog.open(settings.resolved_database_url)
    try:
        infobip = InfobipClient.from_settings(settings) if source else None
    except BaseException:
        catalog.close()
        raise
    return RetentionDeps(
        catalog=catalog,
        store=store,
        policy=policy,
        infobip=infobip,
        actor=actor or default_actor(),
    )
