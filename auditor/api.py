"""The JSON API under ``/api/v1``: bearer tokens only (no cookies, so no cross-site request
can use a signed-in browser's session here)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from auditor import desk
from auditor.holds import require_officer
from auditor.schemas import (
    ErrorOut,
    Export,
    HoldOut,
    HoldRequest,
    HoldResult,
    Me,
    Playback,
    RecordingDetail,
    RecordingOut,
)
from auditor.services import AuditorServices
from auditor.tokens import Principal

bearer = HTTPBearer(auto_error=False, description="A token from recvault auditor token create")
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no token, an unknown or an expired one"},
    403: {"model": ErrorOut, "description": "the token's role may not do this"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no such recording (or nothing left to play)"}
}

router = APIRouter(prefix="/api/v1", tags=["auditor"], responses=ERRORS)


def services(request: Request) -> AuditorServices:
    svc: AuditorServices = request.app.state.services
    return svc


Services = Annotated[AuditorServices, Depends(services)]


def principal(
    svc: Services,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    return desk.authenticate(svc, credentials.credentials if credentials else None)


Caller = Annotated[Principal, Depends(principal)]


@router.get("/me", summary="Who the token belongs to")
def me(who: Caller) -> Me:
    return Me(name=who.name, role=who.role, expires_at=who.expires_at)


@router.get(
    "/recordings",
    summary="Search recordings",
    responses={400: {"model": ErrorOut, "description": "a filter is invalid"}},
)
def search_recordings(
    svc: Services,
    who: Caller,
    conversation_id: str | None = None,
    call_id: str | None = None,
    agent: Annotated[
        str | None, Query(description="agent id, identity or name: their whole conversations")
    ] = None,
    since: Annotated[str | None, Query(description="ISO 8601, inclusive (UTC if no zone)")] = None,
    until: Annotated[str | None, Query(description="ISO 8601, exclusive (UTC if no zone)")] = None,
    status: Annotated[str | None, Query(description=", ".join(desk.STATUSES))] = None,
    recording_id: str | None = None,
    limit: Annotated[str | None, Query(description=f"1-{desk.MAX_RESULTS}")] = None,
) -> list[RecordingOut]:
    filters = desk.SearchFilters.parse(
        conversation_id=conversation_id,
        call_id=call_id,
        agent=agent,
        since=since,
        until=until,
        status=status,
        recording_id=recording_id,
        limit=limit,
    )
    return desk.search(svc, who, filters)


@router.get(
    "/recordings/{recording_id}",
    summary="One recording: metadata, archived objects with hashes, audit history, holds",
    responses=NOT_FOUND,
)
def recording_detail(svc: Services, who: Caller, recording_id: str) -> RecordingDetail:
    return desk.detail(svc, who, recording_id)


@router.get(
    "/recordings/{recording_id}/playback",
    summary="A short-lived link to the playback copy (the derivative, else the original)",
    responses=NOT_FOUND,
)
def recording_playback(svc: Services, who: Caller, recording_id: str) -> Playback:
    return desk.playback(svc, who, recording_id)


@router.get(
    "/recordings/{recording_id}/export",
    summary="Evidence package: record, hashes, history and download links of every version",
    responses=NOT_FOUND,
)
def recording_export(svc: Services, who: Caller, recording_id: str) -> Export:
    return desk.export(svc, who, recording_id)


@router.get("/holds", summary="Legal holds (active ones unless include_released)")
def holds(svc: Services, who: Caller, include_released: bool = False) -> list[HoldOut]:
    return desk.list_holds(svc, who, include_released=include_released)


@router.post(
    "/holds",
    status_code=201,
    summary="Place a legal hold (compliance officer)",
    responses={409: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
def place_hold(svc: Services, who: Caller, body: HoldRequest) -> HoldResult:
    require_officer(who)
    return svc.holds.place(
        who,
        scope_kind=body.scope_kind,
        scope_value=body.scope_value,
        reason=body.reason,
        case_ref=body.case,
    )


@router.post(
    "/holds/{ref}/release",
    summary="Release a hold by id, or every active hold of a case (compliance officer)",
    responses={400: {"model": ErrorOut, "description": "no active hold with that id or case"}},
)
def release_hold(svc: Services, who: Caller, ref: str) -> list[HoldResult]:
    require_officer(who)
    return svc.holds.release(who, ref)
