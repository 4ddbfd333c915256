"""The Calls recordings lists' query: validation, filters and paging.

What Infobip documents about them: docs/infobip.md, "The Calls API".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulator.calls.dataset import Kind, SimEntity
from simulator.errors import ApiError

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
# The spec's RecordingLocation enum, plus HONG_KONG_1 that the Java SDK adds.
LOCATIONS = frozenset(
    {
        "SAO_PAULO",
        "BOGOTA",
        "FRANKFURT",
        "JOHANNESBURG",
        "NEW_YORK",
        "PORTLAND",
        "MOSCOW",
        "SINGAPORE",
        "ISTANBUL",
        "KUALA_LUMPUR",
        "JAKARTA",
        "MUMBAI",
        "HONG_KONG",
        "HONG_KONG_1",
        "RIYADH",
        "CHENNAI",
    }
)


def _platform(name: str) -> Callable[[SimEntity, str], bool]:
    def match(entity: SimEntity, wanted: str) -> bool:
        platform = entity.body.get("platform") or {}
        return bool(platform.get(name) == wanted)

    return match


def _field(name: str) -> Callable[[SimEntity, str], bool]:
    return lambda entity, wanted: str(entity.body.get(name)) == wanted


def _any_call(entity: SimEntity, wanted: str) -> bool:
    return any(call.body.get("callId") == wanted for call in entity.calls)


def _endpoint_type(entity: SimEntity, wanted: str) -> bool:
    return any(call.body["endpoint"]["type"] == wanted for call in entity.calls)


def _composition(entity: SimEntity, wanted: str) -> bool:
    if wanted not in ("true", "false"):
        raise ApiError(400, "composition: must be true or false", shape="legacy")
    return entity.composition == (wanted == "true")


_COMMON = {
    "callsConfigurationId": _field("callsConfigurationId"),
    "applicationId": _platform("applicationId"),
    "entityId": _platform("entityId"),
}
FILTERS: dict[Kind, dict[str, Callable[[SimEntity, str], bool]]] = {
    "call": {
        **_COMMON,
        "callId": _field("callId"),
        "direction": _field("direction"),
        "endpointType": _endpoint_type,
    },
    "conference": {
        **_COMMON,
        "conferenceId": _field("conferenceId"),
        "conferenceName": _field("conferenceName"),
        "callId": _any_call,
        "callEndpointType": _endpoint_type,
        "composition": _composition,
    },
    "dialog": {
        **_COMMON,
        "dialogId": _field("dialogId"),
        "callId": _any_call,
        "callEndpointType": _endpoint_type,
        "composition": _composition,
    },
}


@dataclass(frozen=True)
class CallsQuery:
    page: int = 0
    size: int = DEFAULT_PAGE_SIZE
    started_after_ms: int | None = None
    ended_before_ms: int | None = None
    equals: dict[str, str] = field(default_factory=dict)


def bad_request(text: str) -> ApiError:
    return ApiError(400, text, shape="legacy")


def check_location(params: Mapping[str, str]) -> None:
    location = params.get("location")
    if location and location not in LOCATIONS:
        raise bad_request(f"location: unknown recording location '{location}'")


def _int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"{name}: must be a valid number") from None


def parse_time_ms(params: Mapping[str, str], name: str) -> int | None:
    """``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` (and ISO 8601 variants such as the SDKs send) to ms."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise bad_request(
            f"{name}: must be a date-time like 2026-01-15T12:00:00.000+0000"
        ) from None
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return int(at.timestamp() * 1000)


def parse_query(kind: Kind, params: Mapping[str, str]) -> CallsQuery:
    page = _int(params, "page")
    size = _int(params, "size")
    page = 0 if page is None else page
    size = DEFAULT_PAGE_SIZE if size is None else size
    if page < 0:
        raise bad_request("page: must be greater than or equal to 0")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise bad_request(f"size: must be between 1 and {MAX_PAGE_SIZE}")
    check_location(params)
    equals = {name: params[name] for name in FILTERS[kind] if params.get(name)}
    return CallsQuery(
        page=page,
        size=size,
        started_after_ms=parse_time_ms(params, "startTimeAfter"),
        ended_before_ms=parse_time_ms(params, "endTimeBefore"),
        equals=equals,
    )


def select(kind: Kind, entities: Sequence[SimEntity], query: CallsQuery) -> list[SimEntity]:
    """Matching entities, oldest first (ties by id): Infobip does not say; any order is fine."""
    filters = FILTERS[kind]

    def matches(entity: SimEntity) -> bool:
        if query.started_after_ms is not None and entity.start_ms <= query.started_after_ms:
            return False
        if query.ended_before_ms is not None and entity.end_ms >= query.ended_before_ms:
            return False
        return all(filters[name](entity, wanted) for name, wanted in query.equals.items())

    found = [e for e in entities if e.kind == kind and matches(e)]
    return sorted(found, key=lambda e: (e.start_ms, e.entity_id))


def page_body(results: list[dict[str, Any]], total: int, query: CallsQuery) -> dict[str, Any]:
    return {
        "results": results,
        "paging": {
            "page": query.page,
            "size": query.size,
            "totalPages": -(-total // query.size),
            "totalResults": total,
        },
    }
