"""Infobip's rate limits shared by every worker, as Prefect global concurrency limits.

Each process keeps its own token buckets (``storage.infobip.ratelimit``); with a Prefect server
configured, every request also takes a slot of a global limit named ``recvault-infobip-<op>``
whose slots decay at the operation's rate, so N workers, a backfill beside the schedule and a
retention run together stay within one account's limits. The limits are created (or corrected)
on first use from the settings; inspect or change them with ``prefect gcl ls`` and
``prefect gcl update``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import rate_limit
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

log = logging.getLogger(__name__)
PREFIX = "recvault-infobip-"


def limit_name(op: str) -> str:
    return PREFIX + op.replace("_", "-")


class PrefectRateLimits:
    """``models.ports.SharedRateLimits`` over Prefect's global concurrency limits."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def ensure(self, limits: Mapping[str, tuple[float, int]]) -> None:
        with get_client(sync_client=True) as client:
            for op, (rate_per_s, burst) in limits.items():
                name = limit_name(op)
                wanted = max(1, burst, math.ceil(rate_per_s))
                try:
                    found = client.read_global_concurrency_limit_by_name(name)
                except ObjectNotFound:
                    found = None
                same = (
                    found is not None
                    and found.limit == wanted
                    and found.active
                    and math.isclose(found.slot_decay_per_second or 0.0, rate_per_s)
                )
                if not same:
                    try:
                        client.upsert_global_concurrency_limit_by_name(
                            name, limit=wanted, slot_decay_per_second=rate_per_s
                        )
                    except ObjectAlreadyExists:  # another worker created it meanwhile
                        client.upsert_global_concurrency_limit_by_name(
                            name, limit=wanted, slot_decay_per_second=rate_per_s
                        )
                    log.info(
                        "global rate limit set name=%s per_s=%s slots=%d", name, rate_per_s, wanted
                    )
                self._names[op] = name

    def acquire(self, op: str) -> None:
        name = self._names.get(op)
        if name is not None:
            rate_limit(name, occupy=1, strict=True)
