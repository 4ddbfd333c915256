"""Conversations API (ccaas v1): a conversation's messages and the conversations of a window.

``GET /ccaas/1/conversations/{conversationId}/messages`` and ``GET /ccaas/1/conversations``
page with ``page`` (from 0) and ``limit`` (at most 999) and answer
``{messages|conversations: [...], pagination: {totalItems, page, limit, orderBy}}``
(docs/infobip.md, "Messages"). Both are read oldest first (``orderBy=createdAt:asc``): new
messages then land on the last page instead of shifting the ones already read, and whatever
shifted anyway is deduplicated by id and caught by the next run (its hash changes).

Messages hold personal data (bodies, senders' numbers): nothing here logs or puts into an
error message anything but the conversation id and page numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from models.settings import CONVERSATIONS_PATH, MESSAGES_PATH
from storage.infobip.core import Call, HttpCore

log = logging.getLogger(__name__)

OP_MESSAGES = "messages"  # Get messages: 500 requests a minute
MAX_LIMIT = 999
ORDER = "createdAt:asc"
# Pages are read until the answer says there are no more; this bounds a source that never
# says so (a conversation of a million messages is a thousand pages).
MAX_PAGES = 10_000


def infobip_time(at: datetime) -> str:
    """ccaas v1 filters: ``yyyy-MM-dd'T'HH:mm:ss.SSS+0000``."""
    if at.tzinfo is None:
        raise ValueError("a naive datetime; use timezone-aware UTC")
    utc = at.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def _items(body: Any, field: str) -> list[Mapping[str, Any]]:
    items = body.get(field) if isinstance(body, dict) else None
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict)]


def _total(body: Any) -> int | None:
    pagination = body.get("pagination") if isinstance(body, dict) else None
    total = pagination.get("totalItems") if isinstance(pagination, dict) else None
    return total if isinstance(total, int) else None


def _pages(
    core: HttpCore, call: Call, field: str, params: Mapping[str, str], limit: int
) -> Iterator[Mapping[str, Any]]:
    for page in range(MAX_PAGES):
        body = core.request_json(
            call, params={**params, "page": str(page), "limit": str(limit), "orderBy": ORDER}
        )
        items = _items(body, field)
        yield from items
        total = _total(body)
        if not items or (total is not None and (page + 1) * limit >= total):
            return
    log.warning("infobip listing stopped after %d pages path=%s", MAX_PAGES, call.template)


def list_messages(
    core: HttpCore, conversation_id: str, *, limit: int = MAX_LIMIT
) -> Iterator[Mapping[str, Any]]:
    """Every message of the conversation, as Infobip sent it (a message may repeat)."""
    call = Call(
        OP_MESSAGES,
        "GET",
        MESSAGES_PATH,
        ids=(("conversation_id", conversation_id),),
        personal=True,
        route_checked=True,
    )
    return _pages(core, call, "messages", {}, limit)


def list_conversations(
    core: HttpCore, *, since: datetime, until: datetime, limit: int = MAX_LIMIT
) -> Iterator[str]:
    """The ids of the conversations updated in ``[since, until]`` (a new message updates its
    conversation), each once."""
    call = Call(OP_MESSAGES, "GET", CONVERSATIONS_PATH, personal=True, route_checked=True)
    params = {"updatedAfter": infobip_time(since), "updatedBefore": infobip_time(until)}
    seen: set[str] = set()
    for conversation in _pages(core, call, "conversations", params, limit):
        ident = conversation.get("id")
        if isinstance(ident, str) and ident and ident not in seen:
            seen.add(ident)
            yield ident
