"""A state transition made but not committed yet: it rides in the next commit's transaction.

A step that ends in a state the next step leaves at once (READY before the download, UPLOADED
before the verification) need not commit alone: the catalog writes the hop's row changes,
objects and audit event first, then the next transition's, in one transaction. The audit trail
is the same event for event; a crash before that commit leaves the recording where the last
commit did, and the rerun redoes the hop (work done meanwhile is found again, as after any
crash).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models.states import RecordingState
from models.tables import ArchivedObject


@dataclass
class Hop:
    to: RecordingState
    event: str
    at: datetime
    fields: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] | None = None
    objects: Sequence[ArchivedObject] = ()
    committed: bool = False
