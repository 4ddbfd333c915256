"""Starlette routes of the Calls recordings API (``/calls/1/recordings/...``).

What Infobip documents about it: docs/infobip.md, "The Calls API".

Authentication and injected faults come from the app's ``guarded`` wrapper, as for every
route; the handlers run the state in a worker thread because a first download or listing may
make a media clip with ffmpeg.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.calls.dataset import Kind
from simulator.calls.state import CallsState
from simulator.streaming import MediaResponse, Transports

PREFIX = "/calls/1/recordings"
_PLURAL: dict[Kind, str] = {"call": "calls", "conference": "conferences", "dialog": "dialogs"}

Handler = Callable[[Request], Awaitable[Response]]
Guard = Callable[[str, Handler], Handler]


def calls_routes(guarded: Guard, state: CallsState, transports: Transports | None) -> list[Route]:
    def listing(kind: Kind) -> Handler:
        async def handle(request: Request) -> Response:
            body = await run_in_threadpool(state.list_entities, kind, request.query_params)
            return JSONResponse(body)

        return handle

    def single(kind: Kind, *, delete: bool) -> Handler:
        async def handle(request: Request) -> Response:
            action = state.delete_entity if delete else state.get
            entity_id = request.path_params["entity_id"]
            body = await run_in_threadpool(action, kind, entity_id, request.query_params)
            return JSONResponse(body)

        return handle

    async def download(request: Request) -> Response:
        plan = await run_in_threadpool(
            state.plan_download,
            request.path_params["file_id"],
            request.headers.get("range"),
            request.query_params,
        )
        return MediaResponse(plan, transports)

    async def delete_file(request: Request) -> Response:
        file_id = request.path_params["file_id"]
        return JSONResponse(
            await run_in_threadpool(state.delete_file, file_id, request.query_params)
        )

    routes: list[Route] = []
    for kind, plural in _PLURAL.items():
        path = f"{PREFIX}/{plural}"
        routes += [
            Route(path, guarded("calls_list", listing(kind)), methods=["GET"]),
            Route(
                f"{path}/{{entity_id}}",
                guarded("calls_get", single(kind, delete=False)),
                methods=["GET"],
            ),
            Route(
                f"{path}/{{entity_id}}",
                guarded("calls_delete", single(kind, delete=True)),
                methods=["DELETE"],
            ),
        ]
    routes += [
        Route(
            f"{PREFIX}/files/{{file_id}}",
            guarded("calls_file_download", download),
            methods=["GET"],
        ),
        Route(
            f"{PREFIX}/files/{{file_id}}",
            guarded("calls_file_delete", delete_file),
            methods=["DELETE"],
        ),
    ]
    return routes
