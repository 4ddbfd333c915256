"""``GET /ccaas/voice/2/recording/metadata`` query: validation, filters, sorting, paging."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simulator.errors import ApiError

MAX_PAGE_SIZE = 999
DEFAULT_PAGE_SIZE = 20
DEFAULT_SORT = "startedAt"

EQUALITY_FILTERS = (
    "recordingId",
    "conversationId",
    "conferenceId",
    "callId",
    "direction",
    "filename",
    "participantId",
    "participantIdentity",
    "participantName",
    "participantType",
    "mediaType",
    "deletedBy",
    "transferredFrom",
    "transferredTo",
    "transferredFromQueue",
    "transferredToQueue",
)
RANGE_FILTERS = {"duration": "duration", "startedAt": "startedAt", "deletedAt": "deletedAt"}
SORTABLE = (
    "id",
    *EQUALITY_FILTERS,
    "recordingStatus",
    "composed",
    "duration",
    "startedAt",
    "deletedAt",
)


@dataclass(frozen=True)
class ListingQuery:
    page: int = 0
    size: int = DEFAULT_PAGE_SIZE
    sort_by: str = DEFAULT_SORT
    descending: bool = False
    equals: dict[str, str] = field(default_factory=dict)
    ranges: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)


def _int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"{name}: must be a valid number") from None


def parse_query(params: Mapping[str, str]) -> ListingQuery:
    page = _int(params, "page")
    size = _int(params, "size")
    page = 0 if page is None else page
    size = DEFAULT_PAGE_SIZE if size is None else size
    if page < 0:
        raise ApiError(400, "page: must be greater than or equal to 0")
    if size < 1:
        raise ApiError(400, "size: must be greater than or equal to 1")
    if size > MAX_PAGE_SIZE:
        raise ApiError(400, f"size: must be less than or equal to {MAX_PAGE_SIZE}")
    sort_by = params.get("sortBy") or DEFAULT_SORT
    if sort_by not in SORTABLE:
        raise ApiError(400, f"sortBy: unknown property '{sort_by}'")
    direction = (params.get("sortDirection") or "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise ApiError(400, "sortDirection: must be one of ASC, DESC")
    equals = {name: params[name] for name in EQUALITY_FILTERS if params.get(name)}
    ranges: dict[str, tuple[int | None, int | None]] = {}
    for prefix, key in RANGE_FILTERS.items():
        low, high = _int(params, f"{prefix}From"), _int(params, f"{prefix}To")
        if low is not None or high is not None:
            ranges[key] = (low, high)
    return ListingQuery(
        page=page,
        size=size,
        sort_by=sort_by,
        descending=direction == "DESC",
        equals=equals,
        ranges=ranges,
    )


def _matches(element: Mapping[str, Any], query: ListingQuery) -> bool:
    for name, wanted in query.equals.items():
        if str(element.get(name)) != wanted:
            return False
    for key, (low, high) in query.ranges.items():
        value = element.get(key)
        if value is None:
            return False
        # Both ends inclusive: Infobip does not say, and a client's overlap makes either safe.
        if (low is not None and value < low) or (high is not None and value > high):
            return False
    return True


def select(elements: Sequence[dict[str, Any]], query: ListingQuery) -> list[dict[str, Any]]:
    """Matching elements in the query's order (ties by ``id``)."""
    found = sorted((e for e in elements if _matches(e, query)), key=lambda e: int(e["id"]))
    field_name = query.sort_by

    def key(element: dict[str, Any]) -> tuple[bool, Any]:
        value = element.get(field_name)
        return (value is not None, value if value is not None else 0)

    found.sort(key=key, reverse=query.descending)
    return found


def page_body(view: Sequence[dict[str, Any]], query: ListingQuery) -> dict[str, Any]:
    start = query.page * query.size
    total = len(view)
    return {
        "elements": list(view[start : start + query.size]),
        "total": total,
        "totalPages": -(-total // query.size),
    }
