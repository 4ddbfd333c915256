"""The web page: server-rendered templates, no scripts, no build step.

Signing in posts the token once; it then travels in an HttpOnly, SameSite=Strict cookie that
scripts cannot read and other sites cannot make the browser send, so the hold and release
forms need no separate CSRF token. The cookie lives no longer than the token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from auditor import desk
from auditor.holds import require_officer
from auditor.schemas import Playback
from auditor.services import AuditorServices
from auditor.tokens import Principal, TokenRejected

COOKIE = "recvault_auditor"
MAX_FORM_BYTES = 16 * 1024
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)
SEARCH_FIELDS = (
    "conversation_id",
    "call_id",
    "agent",
    "since",
    "until",
    "status",
    "recording_id",
    "limit",
)


def services(request: Request) -> AuditorServices:
    svc: AuditorServices = request.app.state.services
    return svc


Services = Annotated[AuditorServices, Depends(services)]


def principal(request: Request, svc: Services) -> Principal:
    return desk.authenticate(svc, request.cookies.get(COOKIE))


Caller = Annotated[Principal, Depends(principal)]


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


def error_page(request: Request, message: str, status: int) -> HTMLResponse:
    return page(request, "error.html", status, message=message, code=status, who=None)


async def form_fields(request: Request) -> dict[str, str]:
    """An url-encoded form's fields (first value each): the page's forms are that small."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/search", status_code=303)


@router.get("/sign-in")
def sign_in_form(request: Request) -> HTMLResponse:
    return page(request, "sign_in.html", who=None, error=None)


@router.post("/sign-in")
async def sign_in(request: Request, svc: Services) -> Response:
    token = (await form_fields(request)).get("token", "").strip()
    try:
        who = await run_in_threadpool(desk.sign_in, svc, token)
    except TokenRejected as exc:
        return page(request, "sign_in.html", 401, who=None, error=str(exc))
    response = RedirectResponse("/search", status_code=303)
    ttl_s = int((who.expires_at - svc.clock()).total_seconds())
    response.set_cookie(
        COOKIE,
        token,
        max_age=max(ttl_s, 1),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
def sign_out() -> RedirectResponse:
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/search")
def search(request: Request, svc: Services, who: Caller) -> HTMLResponse:
    given = {name: request.query_params.get(name, "") for name in SEARCH_FIELDS}
    results = None
    if any(name in request.query_params for name in SEARCH_FIELDS):
        results = desk.search(svc, who, desk.SearchFilters.parse(**given))
    return page(
        request, "search.html", who=who, given=given, results=results, statuses=desk.STATUSES
    )


@router.get("/recordings/{recording_id}")
def recording(
    request: Request, svc: Services, who: Caller, recording_id: str, notice: str = ""
) -> HTMLResponse:
    found = desk.detail(svc, who, recording_id)
    try:
        play: Playback | None = desk.playback(svc, who, recording_id)
    except desk.NothingToPlay:
        play = None
    return page(
        request,
        "recording.html",
        who=who,
        found=found,
        rec=found.recording,
        play=play,
        notice=notice,
    )


@router.get("/recordings/{recording_id}/export")
def export(svc: Services, who: Caller, recording_id: str) -> JSONResponse:
    package = desk.export(svc, who, recording_id)
    safe = "".join(c for c in recording_id if c.isalnum() or c in "-_") or "recording"
    return JSONResponse(
        package.model_dump(mode="json"),
        headers={"Content-Disposition": f'attachment; filename="recvault-{safe}.json"'},
    )


@router.post("/recordings/{recording_id}/hold")
async def hold(request: Request, svc: Services, who: Caller, recording_id: str) -> Response:
    require_officer(who)
    fields = await form_fields(request)
    scope = fields.get("scope", "conversation")
    reason, case = fields.get("reason", "").strip(), fields.get("case", "").strip()
    rec = await run_in_threadpool(svc.reader.get, recording_id)
    value = rec.call_id if scope == "call" else rec.conversation_id
    if scope not in ("conversation", "call") or not value:
        return error_page(request, f"this recording has no {scope} id to hold", 400)
    if not reason or not case:
        return error_page(request, "a hold needs a reason and a case reference", 400)
    result = await run_in_threadpool(
        svc.holds.place, who, scope_kind=scope, scope_value=value, reason=reason, case_ref=case
    )
    notice = (
        f"legal hold #{result.hold.id} placed (case {result.hold.case}): covers "
        f"{result.recordings} recording(s); {result.versions} object version(s) under S3 "
        f"legal hold ({result.s3_legal_hold})"
    )
    return _back_to(recording_id, notice)


@router.post("/holds/{ref}/release")
async def release(request: Request, svc: Services, who: Caller, ref: str) -> Response:
    require_officer(who)
    back = (await form_fields(request)).get("recording_id", "")
    results = await run_in_threadpool(svc.holds.release, who, ref)
    notice = "; ".join(
        f"legal hold #{r.hold.id} released: S3 legal hold removed from {r.versions} version(s)"
        for r in results
    )
    if back:
        return _back_to(back, notice)
    return RedirectResponse("/search", status_code=303)


def _back_to(recording_id: str, notice: str) -> RedirectResponse:
    url = f"/recordings/{quote(recording_id, safe='')}?{urlencode({'notice': notice})}"
    return RedirectResponse(url, status_code=303)
