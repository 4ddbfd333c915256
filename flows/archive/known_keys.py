"""Which archive keys exist, listed once per day per run instead of asked once per object.

Before an upload the archive looks for a copy an interrupted attempt left (``find_verified_copy``,
a HeadObject). A run over new recordings finds nothing, nearly always; asking the bucket once
per day of ``object_key()`` prefixes (``recordings/yyyy/mm/dd/``) answers "nothing there" for
every recording of that day with one ListObjectsV2 page per thousand keys. A key the listing
shows is still looked at with ``find_verified_copy``, as before.

The listing is as old as the run's first look at that day, so the run notes every key it is
about to write (:meth:`KnownKeys.writing`): a retry within the run (after a catalog outage
lost the commit of an upload that landed) looks the key up again and adopts the object. An
object written meanwhile by anything else (a worker that lost its claim and kept going) is
not seen, and the recording gets a second version of its key, never a lost one.
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
        self._written: set[str] = set()

    def may_exist(self, key: str) -> bool:
        """False only when the day's listing proves there is no object under ``key`` and
        this run has not tried to write one since."""
        prefix = day_prefix(key)
        if prefix is None:
            return True
        with self._lock:  # the first look at a day lists it; the others wait for that list
            if key in self._written:
                return True
            keys = self._days.get(prefix)
            if keys is None:
                keys = self._days[prefix] = self._store.list_keys(prefix)
        return key in keys

    def writing(self, key: str) -> None:
        """The run is about to upload ``key``: from now on it may exist, whatever the answer."""
        with self._lock:
            self._written.add(key)


def day_prefix(key: str) -> str | None:
    if not key.startswith(ARCHIVE_PREFIX):
        return None
    parts = key.split("/")
    if len(parts) <= _DAY_SLASHES:
        return None
    return "/".join(parts[:_DAY_SLASHES]) + "/"
