"""The auditor app: one FastAPI application serving the JSON API under ``/api`` and the web
page everywhere else, over the services the composition root built.

Errors of the one tree become status codes in one place (``status_for``); the API answers
``{"error": "<one line>"}``, the page shows the same line. Nothing a user sends can produce a
traceback in a response.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from auditor import api, web
from auditor.desk import NothingToPlay
from auditor.services import AuditorServices
from auditor.tokens import RoleRequired, TokenRejected
from models.errors import (
    CatalogUnavailable,
    ConfigError,
    PolicyError,
    RecordingNotFound,
    RecvaultError,
    StorageError,
)

log = logging.getLogger(__name__)

# Pages carry presigned links (credentials for a few minutes): never cached, never sent on as
# a referrer; media may come from the object store's own origin.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; media-src 'self' https: http:; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
    ),
}


def status_for(exc: RecvaultError) -> int:
    if isinstance(exc, TokenRejected):
        return 401
    if isinstance(exc, RoleRequired):
        return 403
    if isinstance(exc, RecordingNotFound | NothingToPlay):
        return 404
    if isinstance(exc, ConfigError):
        return 400
    if isinstance(exc, PolicyError):  # LegalHoldActive, RetentionNotExpired
        return 409
    if isinstance(exc, CatalogUnavailable | StorageError):
        return 503
    return 500


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api")


async def _recvault_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RecvaultError)  # noqa: S101 - registered for this type only
    status = status_for(exc)
    log.info(
        "auditor request refused path=%s status=%d error=%s",
        request.url.path,
        status,
        type(exc).__name__,
    )
    if _is_api(request):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"error": str(exc)}, status_code=status, headers=headers)
    if status == 401:
        response = RedirectResponse("/sign-in", status_code=303)
        response.delete_cookie(web.COOKIE)
        return response
    return web.error_page(request, str(exc), status)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # The detail goes to the server's log, a one-line notice to the caller.
    log.error(
        "auditor unexpected error path=%s error=%s: %s",
        request.url.path,
        type(exc).__name__,
        str(exc)[:300],
    )
    message = f"unexpected error ({type(exc).__name__}); the server log has the details"
    if _is_api(request):
        return JSONResponse({"error": message}, status_code=500)
    return web.error_page(request, message, 500)


def create_app(services: AuditorServices) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            services.close()

    app = FastAPI(
        title="recvault auditor API",
        version="1",
        summary="Search, play and export archived call recordings; legal holds for officers.",
        description=(
            "Read-only access to the recvault catalog. Authenticate with "
            "`Authorization: Bearer <token>` (tokens come from `recvault auditor token "
            "create`). Every answer is recorded in the catalog's audit trail. Playback and "
            "export links are presigned object-store URLs that expire after a few minutes."
        ),
        openapi_url="/api/openapi.json",
        # The interactive pages load their scripts from a CDN; a compliance tool sends nothing
        # to third parties, so only the OpenAPI document itself is served.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    app.add_exception_handler(RecvaultError, _recvault_error)
    app.add_exception_handler(Exception, _unexpected_error)

    @app.middleware("http")
    async def headers_and_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        # The path only: query strings may name a person, and tokens never travel in URLs.
        log.info(
            "auditor http method=%s path=%s status=%d",
            request.method,
            request.url.path,
            response.status_code,
        )
        return response

    app.include_router(api.router)
    app.include_router(web.router)
    return app
