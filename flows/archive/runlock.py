"""Who may run an archive now.

PostgreSQL catalogs allow many concurrent runs: rows are claimed with ``FOR UPDATE SKIP LOCKED``.
A SQLite catalog has no row locks, so one archive run at a time holds a lease on a named lock;
a second run is refused with a clear message. Claims and locks left by a process that died on
this host (kill -9, power loss) are taken over at once; those of other hosts when their lease ends.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flows.services import Services
from models.errors import CatalogLocked

log = logging.getLogger(__name__)
LOCK_NAME = "archive-run"


def holder_is_dead(holder: str) -> bool:
    """True when ``holder`` (host:pid:random) names a process of this host that no longer runs."""
    host, _, rest = holder.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


_LOCKED = (
    "another recvault archive run is using this SQLite catalog; wait for it to finish, "
    "or use PostgreSQL (RECVAULT_DATABASE_URL) to run several at once"
)


def ensure_run_lock_free(deps: Services) -> None:
    """Refuse at once, before the flow starts, when a live run holds a SQLite catalog.

    Only a quick answer for the CLI: ``archive_run_lock`` still decides (two runs started in
    the same instant both pass here, and one of them is refused there).
    """
    catalog = deps.catalog
    if not catalog.is_sqlite:
        return
    holder = catalog.lock_holder(LOCK_NAME)
    if holder is None or holder_is_dead(holder):
        return
    # Held by a live process, or expired: only an expired lock can be taken (and given back).
    if catalog.acquire_lock(LOCK_NAME, holder=deps.worker, now=deps.clock(), lease_s=30):
        catalog.release_lock(LOCK_NAME, holder=deps.worker)
        return
    raise CatalogLocked(_LOCKED)


@contextmanager
def archive_run_lock(deps: Services) -> Iterator[None]:
    catalog = deps.catalog
    reclaimed = catalog.release_claims(holder_is_dead)
    if reclaimed:
        log.warning("took over claims of dead workers count=%d", reclaimed)
    if not catalog.is_sqlite:
        yield
        return
    lease = deps.settings.lease_s
    holder = catalog.lock_holder(LOCK_NAME)
    if holder is not None and holder_is_dead(holder):
        catalog.release_lock(LOCK_NAME, holder=holder)
    if not catalog.acquire_lock(LOCK_NAME, holder=deps.worker, now=deps.clock(), lease_s=lease):
        raise CatalogLocked(_LOCKED)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease / 3):
            if not catalog.renew_lock(
                LOCK_NAME, holder=deps.worker, now=deps.clock(), lease_s=lease
            ):
                log.error("archive run lock lost holder=%s", deps.worker)
                return

    renewer = threading.Thread(target=renew, name="recvault-lock-renewer", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join(timeout=5)
        catalog.release_lock(LOCK_NAME, holder=deps.worker)
