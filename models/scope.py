"""Which recordings a run works on: a backfill stays inside its chunk, the schedule takes the
newest first so a backlog never delays new recordings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ClaimScope:
    started_from: datetime | None = None  # inclusive
    started_to: datetime | None = None  # exclusive
    newest_first: bool = False


EVERYTHING = ClaimScope()
NEWEST_FIRST = ClaimScope(newest_first=True)
