"""Which archive keys exist, listed once per day per run instead of asked once per object.

Before an upload the archive looks for a copy an interrupted attempt left (``find_verified_copy``,
a HeadObject). A run over new recordings finds nothing, nearly always; asking the bucket once
per day of ``object_key()`` prefixes (``recordings/yyyy/mm/dd/``) answers "nothing there" for
every recording of that day with one ListObjectsV2 page per thousand keys. A key the listing
shows is still looked at with ``find_verified_copy``, as before.

The listing is as old as the run's first look at that day: an object written meanwhile by
anything but this run (a worker that lost its claim and kept going) is not seen, and the
recording gets a second version of its key, never a lost one.
"""

from __future__ import annotations

import threading
from typing import Protocol

from models.keys import ARCHIVE_PREFIX

# recordings/yyyy/mm/dd/: the prefix's own slash and three more.
_DAY_SLASHES = ARCHIVE_PREFIX.count("/") + 3


class Lister(Protocol):
    def list_keys(self, prefix: str) -> set[str]: ...


class KnownKeys:
    """Thread-safe; one per run (``run_archive`` makes it)."""

    def __init__(self, store: Lister) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._days: dict[str, set[str]] = {}

    def may_exist(self, key: str) -> bool:
        """False only when the day's listing proves there is no object under ``key``."""
        prefix = day_prefix(key)
        if prefix is None:
            return True
        with self._lock:  # the first look at a day lists it; the others wait for that list
            keys = self._days.get(prefix)
            if keys is None:
                keys = self._days[prefix] = self._store.list_keys(prefix)
        return key in keys


def day_prefix(key: str) -> str | None:
    if not key.startswith(ARCHIVE_PREFIX):
        return None
    parts = key.split("/")
    if len(parts) <= _DAY_SLASHES:
        return None
    return "/".join(parts[:_DAY_SLASHES]) + "/"
