"""Client-side token buckets that keep recvault under Infobip's published per-operation limits.

Infobip publishes its limits as token buckets (``x-throttling-info`` type ``token``:
``replenishRate`` per second, ``burstCapacity``; docs/infobip.md, "Rate limits"), so the client
mirrors that shape instead of a fixed delay between requests.

The bucket works by reservation: a caller takes its token under the lock even when the
balance goes negative, then sleeps outside the lock until that token is due. Waiters therefore
never hold the lock while sleeping, are served in arrival order, and however many threads
share a bucket, no more than ``burst + rate * t`` acquisitions complete within any ``t``
seconds. One process only: limits across machines belong to Prefect's global concurrency
limits (docs/infobip.md, "Rate limits").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping


class TokenBucket:
    """``rate_per_s`` tokens per second, at most ``burst`` saved up; thread-safe."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated_at = clock()

    def acquire(self, tokens: float = 1.0) -> float:
        """Take ``tokens``, sleeping until they are due; returns the seconds slept."""
        if not 0 < tokens <= self.burst:
            raise ValueError(f"tokens must be in (0, {self.burst}], got {tokens}")
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated_at)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_s)
            self._updated_at = now
            self._tokens -= tokens
            wait_s = -self._tokens / self.rate_per_s if self._tokens < 0 else 0.0
        if wait_s > 0:
            self._sleep(wait_s)
        return wait_s


class RateLimiter:
    """One independent :class:`TokenBucket` per operation class (Infobip limits per endpoint)."""

    def __init__(
        self,
        limits: Mapping[str, tuple[float, int]],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._buckets = {
            name: TokenBucket(rate, burst, clock=clock, sleep=sleep)
            for name, (rate, burst) in limits.items()
        }

    def acquire(self, operation: str) -> float:
        """Wait for one request slot of ``operation``; returns the seconds slept."""
        try:
            bucket = self._buckets[operation]
        except KeyError:
            raise ValueError(f"no rate limit configured for operation {operation!r}") from None
        return bucket.acquire()

    def bucket(self, operation: str) -> TokenBucket:
        return self._buckets[operation]
