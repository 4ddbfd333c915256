"""Deciding which recordings and which requests a scenario's faults hit."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from simulator.scenario import RecordingPick, Scenario

# Infobip's published x-throttling-info (docs/infobip.md, "Rate limits"): (per second, burst).
PUBLISHED_LIMITS: dict[str, tuple[float, float]] = {
    "metadata": (10.0, 20.0),
    "download": (100.0, 100.0),
    "account_config": (10.0, 20.0),
    # Calls recordings: lists and reads 100/s; file download and file delete 100/min each.
    "calls_list": (100.0, 100.0),
    "calls_get": (100.0, 100.0),
    "calls_delete": (100.0, 100.0),
    "calls_file_download": (100.0 / 60.0, 100.0),
    "calls_file_delete": (100.0 / 60.0, 100.0),
    # Get messages: 500/min. The conversations listing publishes none; it shares that one.
    "messages": (500.0 / 60.0, 500.0),
}


class Pickable(Protocol):
    """Anything a per-recording fault can hit: a position in its data set and an id."""

    @property
    def index(self) -> int: ...

    @property
    def recording_id(self) -> str: ...


def pick_ids(
    pick: RecordingPick, eligible: Sequence[Pickable], *, seed: int, name: str
) -> frozenset[str]:
    """Explicit indices, then ``count`` more at random, then each of the rest by ``ratio``."""
    rng = random.Random(f"{seed}:pick:{name}")
    by_index = {rec.index: rec for rec in eligible}
    chosen = {by_index[i].recording_id for i in pick.indices if i in by_index}
    rest = [rec for rec in eligible if rec.recording_id not in chosen]
    extra = rng.sample(rest, min(pick.count, len(rest)))
    chosen.update(rec.recording_id for rec in extra)
    for rec in rest:
        if rec.recording_id not in chosen and rng.random() < pick.ratio:
            chosen.add(rec.recording_id)
    return frozenset(chosen)


@dataclass
class TokenBucket:
    rate_per_s: float
    burst: float
    tokens: float
    updated_at: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.updated_at) * self.rate_per_s)
        self.updated_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RequestFaults:
    """Per-endpoint decisions for injected 429s and 5xx; not thread-safe (callers lock)."""

    def __init__(self, scenario: Scenario, clock: Callable[[], float]) -> None:
        self.scenario = scenario
        self.clock = clock
        self._seen_429: Counter[str] = Counter()
        self._seen_5xx: Counter[str] = Counter()
        self._rngs: dict[str, random.Random] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._cycle = 0

    def _rng(self, endpoint: str) -> random.Random:
        if endpoint not in self._rngs:
            self._rngs[endpoint] = random.Random(f"{self.scenario.seed}:requests:{endpoint}")
        return self._rngs[endpoint]

    def _over_published_limit(self, endpoint: str) -> bool:
        if not self.scenario.enforce_rate_limits or endpoint not in PUBLISHED_LIMITS:
            return False
        now = self.clock()
        if endpoint not in self._buckets:
            rate, burst = PUBLISHED_LIMITS[endpoint]
            self._buckets[endpoint] = TokenBucket(rate, burst, burst, now)
        return not self._buckets[endpoint].take(now)

    def decide(self, endpoint: str) -> int | None:
        """The status to answer instead of serving the request, or None."""
        if self._over_published_limit(endpoint):
            return 429
        throttle = self.scenario.rate_limit
        if throttle.applies_to(endpoint):
            self._seen_429[endpoint] += 1
            if self._seen_429[endpoint] <= throttle.first_n:
                return 429
            if throttle.rate and self._rng(endpoint).random() < throttle.rate:
                return 429
        errors = self.scenario.server_errors
        statuses = self.scenario.server_error_statuses
        if errors.applies_to(endpoint) and statuses:
            self._seen_5xx[endpoint] += 1
            hit = self._seen_5xx[endpoint] <= errors.first_n
            if not hit and errors.rate:
                hit = self._rng(endpoint).random() < errors.rate
            if hit:
                status = statuses[self._cycle % len(statuses)]
                self._cycle += 1
                return int(status)
        return None
