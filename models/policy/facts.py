"""What the policy matches on: a few facts about one recording.

Built from the Infobip metadata (discovery) or from a catalog row (later runs) with the same
result, so a recording keeps its rule. ``queues`` are the transfer queues plus a ``queue``,
``queueId`` or ``queueName`` field when the metadata carries one; ``tags`` are the strings of
a ``tags`` or ``tagNames`` field (a list, or one comma-separated string) plus ``composed`` for
a merged file and ``transferred`` for a transferred call. Unknown metadata fields reach us
through the source model's ``extra="allow"`` and the catalog's raw copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.ports import SourceRecording
    from models.tables import Recording

_QUEUE_FIELDS = ("queue", "queueId", "queue_id", "queueName", "queue_name")
_TAG_FIELDS = ("tags", "tagNames", "tag_names")


@dataclass(frozen=True, kw_only=True)
class RecordingFacts:
    media_type: str
    started_at: datetime
    direction: str | None = None
    participant_type: str | None = None
    queues: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    @classmethod
    def from_source(cls, meta: SourceRecording) -> RecordingFacts:
        return cls._build(
            media_type=meta.media_type,
            started_at=meta.started_at,
            direction=meta.direction,
            participant_type=meta.participant_type,
            queues=(meta.transferred_from_queue, meta.transferred_to_queue),
            composed=meta.composed,
            transferred=(meta.transferred_from, meta.transferred_to),
            extra=meta.raw,
        )

    @classmethod
    def from_row(cls, row: Recording) -> RecordingFacts:
        return cls._build(
            media_type=row.media_type,
            started_at=row.started_at,
            direction=row.direction,
            participant_type=row.participant_type,
            queues=(row.transferred_from_queue, row.transferred_to_queue),
            composed=row.composed,
            transferred=(row.transferred_from, row.transferred_to),
            extra=row.raw or {},
        )

    @classmethod
    def _build(
        cls,
        *,
        media_type: str,
        started_at: datetime,
        direction: str | None,
        participant_type: str | None,
        queues: Iterable[str | None],
        composed: bool,
        transferred: Iterable[str | None],
        extra: Mapping[str, Any],
    ) -> RecordingFacts:
        transfer_queues = {q for q in queues if q}
        all_queues = transfer_queues | {str(extra[f]) for f in _QUEUE_FIELDS if extra.get(f)}
        tags: set[str] = set()
        for field in _TAG_FIELDS:
            tags.update(_tag_values(extra.get(field)))
        if composed:
            tags.add("composed")
        if transfer_queues or any(transferred):
            tags.add("transferred")
        return cls(
            media_type=media_type.upper(),
            started_at=started_at,
            direction=direction.upper() if direction else None,
            participant_type=participant_type.upper() if participant_type else None,
            queues=frozenset(all_queues),
            tags=frozenset(tags),
        )


def _tag_values(value: object) -> set[str]:
    if isinstance(value, str):
        return {t.strip() for t in value.split(",") if t.strip()}
    if isinstance(value, list | tuple):
        return {str(t).strip() for t in value if isinstance(t, str | int) and str(t).strip()}
    return set()
