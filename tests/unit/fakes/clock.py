"""A controllable clock for ``Services.clock``: stopped (moves only when told) or running."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta


class FakeClock:
    """Timezone-aware UTC time from ``start``. Stopped, it moves only by ``advance``; running,
    it also follows real time (for the run loop, which sleeps until deferred work is due)."""

    def __init__(self, start: datetime, *, running: bool = False) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._start = start
        self._offset = timedelta()
        self._running_since = time.monotonic() if running else None
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            now = self._start + self._offset
            if self._running_since is not None:
                now += timedelta(seconds=time.monotonic() - self._running_since)
            return now

    def advance(self, by: timedelta | float) -> datetime:
        """Move on by ``by`` (seconds, or a timedelta); returns the new time."""
        with self._lock:
            self._offset += by if isinstance(by, timedelta) else timedelta(seconds=by)
        return self()
