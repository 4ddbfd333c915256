"""Keyset paging over Infobip's recording metadata listing, which shifts while it is read.

Offset paging (``page=0,1,2...``) over ``sortBy=startedAt`` repeats or skips elements when new
recordings arrive during the listing. So each request asks for page 0 from a ``startedAtFrom``
cursor set to the newest ``startedAt`` seen, and ids already yielded are skipped. A page whose
elements all share the cursor's ``startedAt`` cannot move the cursor; then ``page`` advances
for that cursor value instead. Recordings that appear behind the cursor are the caller's
overlap margin's job (docs/infobip.md, "Paging and shifting pages").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import ValidationError

from models.source import RecordingMetadata

log = logging.getLogger(__name__)

# fetch(cursor_ms, page) -> the decoded JSON page {"elements": [...], "totalPages": n, ...}
FetchPage = Callable[[int, int], Any]


def parse_element(raw: object, *, page: int, position: int) -> RecordingMetadata | None:
    """A typed element, or None (logged by position) when it lacks recordingId/startedAt."""
    try:
        return RecordingMetadata.model_validate(raw)
    except ValidationError:
        # Position only: the element's content may hold participant names or numbers.
        log.warning(
            "infobip skipped malformed metadata element page=%d position=%d", page, position
        )
        return None


def page_elements(body: Any) -> list[Any]:
    elements = body.get("elements") if isinstance(body, dict) else None
    return elements if isinstance(elements, list) else []


def keyset_listing(fetch: FetchPage, *, from_ms: int) -> Iterator[RecordingMetadata]:
    """Every element ``fetch`` can reach from ``from_ms`` on, each recordingId once."""
    seen: set[str] = set()
    cursor_ms, page = from_ms, 0
    while True:
        body = fetch(cursor_ms, page)
        elements = page_elements(body)
        if not elements:
            return
        total_pages = body.get("totalPages")
        fresh = 0
        newest_ms = cursor_ms
        for position, raw in enumerate(elements):
            record = parse_element(raw, page=page, position=position)
            if record is None:
                continue
            newest_ms = max(newest_ms, record.started_at)
            if record.recording_id in seen:
                continue
            seen.add(record.recording_id)
            fresh += 1
            yield record
        if fresh == 0 and (not isinstance(total_pages, int) or page + 1 >= total_pages):
            return
        if newest_ms > cursor_ms:
            cursor_ms, page = newest_ms, 0
        else:
            page += 1
