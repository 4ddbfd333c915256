"""The auditor's operations, shared by the JSON API and the web page: each one checks the
caller's token, does one read, and writes one access event to the audit chain (who, what,
which recording) before answering, so no answer leaves without its trace.

Search filters can name a person (an agent's name or phone number): the access event records
which filters were used and the ids searched for, never the person's name or identity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.schemas import (
    Export,
    HistoryEntry,
    HoldOut,
    Link,
    Playback,
    RecordingDetail,
    RecordingOut,
)
from auditor.services import AuditorServices
from auditor.tokens import Principal
from models.errors import ConfigError, RecvaultError
from models.search import IdMatch, RecordingQuery
from models.tables import ArchivedObject

log = logging.getLogger(__name__)

STATUSES = ("ARCHIVED", "PENDING", "FAILED", "QUARANTINED", "SOURCE_DELETED", "EXPIRED")
MAX_RESULTS = 1000
DEFAULT_RESULTS = 200


class NothingToPlay(RecvaultError):
    """The recording has no archived object left to play (expired, erased, not archived)."""


@dataclass(frozen=True)
class SearchFilters:
    conversation_id: str | None = None
    call_id: str | None = None
    agent: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    recording_id: str | None = None
    limit: int = DEFAULT_RESULTS

    @classmethod
    def parse(
        cls,
        *,
        conversation_id: str | None = None,
        call_id: str | None = None,
        agent: str | None = None,
        since: str | None = None,
        until: str | None = None,
        status: str | None = None,
        recording_id: str | None = None,
        limit: int | str | None = None,
    ) -> SearchFilters:
        """From the query string as typed (empty fields mean "any"); bad values raise a
        one-line ConfigError naming the field."""
        start, end = parse_when(since, "since"), parse_when(until, "until")
        if start is not None and end is not None and start >= end:
            raise ConfigError("since must be before until")
        wanted = (status or "").strip().upper() or None
        if wanted is not None and wanted not in STATUSES:
            raise ConfigError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        return cls(
            conversation_id=_blank(conversation_id),
            call_id=_blank(call_id),
            agent=_blank(agent),
            since=start,
            until=end,
            status=wanted,
            recording_id=_blank(recording_id),
            limit=_limit(limit),
        )

    def for_audit(self) -> dict[str, Any]:
        """What the access event keeps: ids and dates, and only *that* a person was named."""
        detail: dict[str, Any] = {
            name: value
            for name, value in (
                ("conversation_id", self.conversation_id),
                ("call_id", self.call_id),
                ("recording_id", self.recording_id),
                ("since", self.since),
                ("until", self.until),
                ("status", self.status),
            )
            if value is not None
        }
        if self.agent is not None:
            detail["agent"] = "(given)"
        return detail


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _limit(value: int | str | None) -> int:
    if value is None or value == "":
        return DEFAULT_RESULTS
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"limit must be a whole number, got {value!r}") from None
    if not 1 <= number <= MAX_RESULTS:
        raise ConfigError(f"limit must be between 1 and {MAX_RESULTS}, got {number}")
    return number


def parse_when(value: str | None, field: str) -> datetime | None:
    """ISO 8601 date or date-time; UTC when no zone is given."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{field} must be an ISO 8601 date or time such as 2025-03-01 or "
            f"2025-03-01T09:00:00Z, got {value!r}"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _record(
    svc: AuditorServices,
    who: Principal,
    event: str,
    *,
    recording_id: str | None = None,
    **detail: Any,
) -> None:
    svc.access_log.append_audit(
        event=event,
        actor=who.actor,
        at=svc.clock(),
        recording_id=recording_id,
        detail={"role": who.role, **detail},
    )
    log.info("auditor access event=%s recording_id=%s role=%s", event, recording_id, who.role)


def _id(value: str | None, field: str) -> IdMatch | None:
    return None if value is None else IdMatch.parse(value, option=field)


def search(svc: AuditorServices, who: Principal, filters: SearchFilters) -> list[RecordingOut]:
    """The same search as ``recvault catalog search``: id prefixes (``ca3b0b11*``), agents by
    id, identity, name or a word of it; a whole id that matches nothing is tried as a prefix."""
    query = RecordingQuery(
        recording_id=_id(filters.recording_id, "recording_id"),
        conversation_id=_id(filters.conversation_id, "conversation_id"),
        call_id=_id(filters.call_id, "call_id"),
        agent=filters.agent,
        since=filters.since,
        until=filters.until,
        status=filters.status,
        limit=filters.limit,
    )
    rows = svc.reader.find(query).rows
    _record(svc, who, "auditor_search", filters=filters.for_audit(), results=len(rows))
    return [RecordingOut.of(row, objects) for row, objects in rows]


def _holds_of(svc: AuditorServices, recording_id: str) -> list[HoldOut]:
    covering = set(svc.reader.holds_covering(recording_id))
    return [HoldOut.of(h) for h in svc.reader.list_holds() if h.id in covering]


def detail(svc: AuditorServices, who: Principal, recording_id: str) -> RecordingDetail:
    row = svc.reader.get(recording_id)
    _record(svc, who, "auditor_view", recording_id=recording_id)
    return RecordingDetail(
        recording=RecordingOut.of(row, svc.reader.objects(recording_id)),
        history=[HistoryEntry.of(e) for e in svc.reader.audit_events(recording_id)],
        holds=_holds_of(svc, recording_id),
    )


def _link(svc: AuditorServices, obj: ArchivedObject, *, download: bool) -> Link:
    expires_at = svc.clock() + timedelta(seconds=svc.url_ttl_s)
    name = obj.key.rsplit("/", 2)
    url = svc.links.presigned_get(
        obj.key,
        version_id=obj.version_id,
        expires_s=svc.url_ttl_s,
        content_type=obj.content_type,
        download_name="-".join(name[-2:]) if download else None,
    )
    return Link(
        url=url,
        expires_at=expires_at,
        kind=obj.kind,
        key=obj.key,
        version_id=obj.version_id,
        sha256=obj.sha256,
        size=obj.size_bytes,
        content_type=obj.content_type,
    )


def playable_object(objects: list[ArchivedObject]) -> ArchivedObject | None:
    """The playback copy (the transcoded derivative) when there is one, else the original."""
    live = [o for o in objects if o.deleted_at is None]
    by_kind = {o.kind: o for o in live}
    return by_kind.get("transcoded") or by_kind.get("original")


def playback(svc: AuditorServices, who: Principal, recording_id: str) -> Playback:
    row = svc.reader.get(recording_id)
    obj = playable_object(svc.reader.objects(recording_id))
    if obj is None:
        raise NothingToPlay(
            f"recording {recording_id} has no archived object to play (state {row.state})"
        )
    link = _link(svc, obj, download=False)
    _record(
        svc,
        who,
        "auditor_playback",
        recording_id=recording_id,
        kind=obj.kind,
        key=obj.key,
        version_id=obj.version_id,
        expires_s=svc.url_ttl_s,
    )
    return Playback(recording_id=recording_id, media_type=row.media_type, link=link)


def export(svc: AuditorServices, who: Principal, recording_id: str) -> Export:
    row = svc.reader.get(recording_id)
    objects = svc.reader.objects(recording_id)
    live = [o for o in objects if o.deleted_at is None]
    downloads = [_link(svc, o, download=True) for o in live]
    _record(
        svc,
        who,
        "auditor_export",
        recording_id=recording_id,
        objects=[{"kind": o.kind, "key": o.key, "version_id": o.version_id} for o in live],
        expires_s=svc.url_ttl_s,
    )
    return Export(
        generated_at=svc.clock(),
        generated_for=who.actor,
        recording=RecordingOut.of(row, objects),
        history=[HistoryEntry.of(e) for e in svc.reader.audit_events(recording_id)],
        holds=_holds_of(svc, recording_id),
        downloads=downloads,
    )


def sign_in(svc: AuditorServices, token: str | None) -> Principal:
    who = svc.tokens.authenticate(token, now=svc.clock())
    _record(svc, who, "auditor_sign_in")
    return who


def authenticate(svc: AuditorServices, token: str | None) -> Principal:
    return svc.tokens.authenticate(token, now=svc.clock())


def list_holds(svc: AuditorServices, who: Principal, *, include_released: bool) -> list[HoldOut]:
    rows = svc.reader.list_holds(include_released=include_released)
    _record(svc, who, "auditor_holds_listed", include_released=include_released)
    return [HoldOut.of(h) for h in rows]
