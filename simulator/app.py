"""The Starlette app: routes, authentication, injected faults and Infobip's error bodies.

Logs carry endpoint, recording id and status only: never query strings (they may hold
participant names or phone numbers used as filters) nor headers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from simulator.calls.routes import calls_routes
from simulator.errors import ApiError, legacy_body
from simulator.state import SimulatorState
from simulator.streaming import MediaResponse, Transports

log = logging.getLogger(__name__)

_PREFIX = "/ccaas/voice/2"
_GATEWAY_PAGE = (
    "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center></body></html>"
)
_GATEWAY_TITLES = {502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable"}

Handler = Callable[[Request], Awaitable[Response]]


class _Api:
    def __init__(self, state: SimulatorState, transports: Transports | None) -> None:
        self.state = state
        self.transports = transports

    def _finish(self, endpoint: str, request: Request, response: Response) -> Response:
        self.state.record(endpoint, response.status_code)
        params = request.path_params
        recording_id = params.get("recording_id") or params.get("file_id") or "-"
        log.info(
            "request endpoint=%s method=%s recording_id=%s status=%d",
            endpoint,
            request.method,
            recording_id,
            response.status_code,
        )
        return response

    def _error(self, error: ApiError) -> Response:
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    def _injected(self, status: int) -> Response:
        if status == 429:
            return self._error(ApiError(429, "Too many requests", shape="legacy"))
        if status in _GATEWAY_TITLES:
            return HTMLResponse(_GATEWAY_PAGE.format(_GATEWAY_TITLES[status]), status_code=status)
        text = "Something went wrong. Please contact support."
        return self._error(ApiError(status, text, shape="legacy"))

    def guarded(self, endpoint: str, handler: Handler) -> Handler:
        """Latency, authentication, then injected faults, then the handler; ApiError becomes
        a body."""
        latency_s = self.state.scenario.latency_s

        async def run(request: Request) -> Response:
            if latency_s:
                await asyncio.sleep(latency_s)
            if not self.state.authorized(request.headers.get("authorization")):
                error = ApiError(401, "Invalid login details", shape="legacy")
                return self._finish(endpoint, request, self._error(error))
            injected = self.state.injected_status(endpoint)
            if injected is not None:
                return self._finish(endpoint, request, self._injected(injected))
            try:
                response = await handler(request)
            except ApiError as error:
                response = self._error(error)
            return self._finish(endpoint, request, response)

        return run

    async def metadata(self, request: Request) -> Response:
        return JSONResponse(self.state.list_metadata(request.query_params))

    async def messages(self, request: Request) -> Response:
        conversation_id = request.path_params["conversation_id"]
        return JSONResponse(
            self.state.messages.list_messages(conversation_id, request.query_params)
        )

    async def conversations(self, request: Request) -> Response:
        return JSONResponse(self.state.messages.list_conversations(request.query_params))

    async def download(self, request: Request) -> Response:
        recording_id = request.path_params["recording_id"]
        # Building media may run ffmpeg once per clip; keep the event loop free meanwhile.
        plan = await run_in_threadpool(
            self.state.plan_download, recording_id, request.headers.get("range")
        )
        return MediaResponse(
            plan, self.transports, lambda sent: self.state.add_bytes_served("download", sent)
        )

    async def prepare(self, request: Request) -> Response:
        status, body = self.state.request_preparation(request.path_params["recording_id"])
        return JSONResponse(body, status_code=status)

    async def preparation_status(self, request: Request) -> Response:
        return JSONResponse(self.state.preparation_status(request.path_params["recording_id"]))

    async def delete(self, request: Request) -> Response:
        return JSONResponse(self.state.delete(request.path_params["recording_id"]))

    async def account_config(self, request: Request) -> Response:
        body: object = None
        if request.method != "GET":
            try:
                body = json.loads(await request.body())
            except ValueError:
                raise ApiError(400, "Invalid request body") from None
        return JSONResponse(self.state.account_config(request.method, body))

    async def session(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            token = self.state.issue_token(str(body["username"]), str(body["password"]))
        except (ValueError, KeyError, TypeError):
            token = None
        if token is None:
            return self._finish("auth", request, self._unauthorized())
        return self._finish("auth", request, JSONResponse({"token": token}))

    async def oauth_token(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        client_id = (form.get("client_id") or [""])[0]
        secret = (form.get("client_secret") or [""])[0]
        grant = (form.get("grant_type") or [""])[0]
        token = self.state.issue_token(client_id, secret) if grant == "client_credentials" else None
        if token is None:
            return self._finish("auth", request, self._unauthorized())
        body: dict[str, Any] = {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
        return self._finish("auth", request, JSONResponse(body))

    def _unauthorized(self) -> Response:
        return self._error(ApiError(401, "Invalid login details", shape="legacy"))


async def _unknown_route(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    text = "Method not allowed" if status == 405 else "Not found"
    log.info("request endpoint=unknown method=%s status=%d", request.method, status)
    return JSONResponse(legacy_body(status, text), status_code=status)


async def _gateway_not_found(request: Request, exc: Exception) -> Response:
    """Strict mode: a route Infobip does not publish is not there, and whatever stands in
    front of the API says so in its own words, without an Infobip error body."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    log.info("request endpoint=unknown method=%s status=%d", request.method, status)
    title = "405 Not Allowed" if status == 405 else "404 Not Found"
    return HTMLResponse(_GATEWAY_PAGE.format(title), status_code=status)


def _hypothesis_routes(api: _Api) -> list[Route]:
    """recvault's model of routes Infobip does not publish (section 9): not in strict mode."""
    return [
        Route(
            f"{_PREFIX}/recording/{{recording_id}}/download-preparation",
            api.guarded("prepare", api.prepare),
            methods=["POST"],
        ),
        Route(
            f"{_PREFIX}/recording/{{recording_id}}/download-preparation",
            api.guarded("preparation_status", api.preparation_status),
            methods=["GET"],
        ),
        Route(
            f"{_PREFIX}/recording/{{recording_id}}",
            api.guarded("delete", api.delete),
            methods=["DELETE"],
        ),
    ]


def create_app(state: SimulatorState, transports: Transports | None = None) -> Starlette:
    """``transports`` maps client address to its socket transport, for abrupt disconnects."""
    api = _Api(state, transports)
    strict = state.scenario.strict
    routes = [
        Route(f"{_PREFIX}/recording/metadata", api.guarded("metadata", api.metadata)),
        Route(
            f"{_PREFIX}/recording/download/{{recording_id}}",
            api.guarded("download", api.download),
        ),
        *([] if strict else _hypothesis_routes(api)),
        Route(
            f"{_PREFIX}/account-recording-config",
            api.guarded("account_config", api.account_config),
            methods=["GET", "PUT", "POST"],
        ),
        *calls_routes(api.guarded, state.calls, transports),
        Route("/ccaas/1/conversations", api.guarded("conversations", api.conversations)),
        Route(
            "/ccaas/1/conversations/{conversation_id}/messages",
            api.guarded("messages", api.messages),
        ),
        Route("/auth/1/session", api.session, methods=["POST"]),
        Route("/auth/1/oauth2/token", api.oauth_token, methods=["POST"]),
    ]
    unknown = _gateway_not_found if strict else _unknown_route
    handlers: MutableMapping[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        404: unknown,
        405: unknown,
    }
    return Starlette(routes=routes, exception_handlers=dict(handlers))
