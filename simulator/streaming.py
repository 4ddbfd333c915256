"""Streaming a media body, and cutting the connection mid-body when a fault asks for it.

A cut needs the socket itself, which ASGI hides; the server's protocol class records each
connection's transport by client address (``Transports``) so the response can find it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable, MutableMapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from simulator.downloads import DownloadPlan

log = logging.getLogger(__name__)

Transports = MutableMapping[tuple[str, int], asyncio.Transport]

_FLUSH_WAIT_S = 2.0
_DISCONNECT_WAIT_S = 5.0


class MediaResponse(Response):
    def __init__(
        self,
        plan: DownloadPlan,
        transports: Transports | None,
        on_sent: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(status_code=plan.status, headers=dict(plan.headers()))
        self.plan = plan
        self.transports = transports
        self.on_sent = on_sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        disconnected = asyncio.Event()

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()

        listener = asyncio.create_task(listen())
        sent = 0
        outcome = "complete"
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            cut_after = self.plan.cut_after
            for chunk in self.plan.body.chunks(self.plan.start, self.plan.end):
                if disconnected.is_set():
                    outcome = "client-gone"
                    return
                if cut_after is not None and sent + len(chunk) > cut_after:
                    piece = chunk[: cut_after - sent]
                    if piece:
                        await send({"type": "http.response.body", "body": piece, "more_body": True})
                        sent += len(piece)
                    outcome = str(self.plan.cut)
                    await self._cut(scope, disconnected)
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            listener.cancel()
            if self.on_sent is not None:
                self.on_sent(sent)
            log.info(
                "download recording_id=%s status=%d bytes=%d outcome=%s",
                self.plan.media_id,
                self.status_code,
                sent,
                outcome,
            )

    async def _cut(self, scope: Scope, disconnected: asyncio.Event) -> None:
        client = scope.get("client")
        transport = self.transports.get(tuple(client)) if self.transports and client else None
        if transport is None:
            # In-process ASGI (no socket): leaving the body unfinished is the closest we can get.
            return
        if self.plan.cut == "drop":
            # Let the bytes already written reach the kernel, then reset (RST, not FIN).
            deadline = asyncio.get_running_loop().time() + _FLUSH_WAIT_S
            while (
                transport.get_write_buffer_size() and asyncio.get_running_loop().time() < deadline
            ):
                await asyncio.sleep(0.005)
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            # A clean close after fewer bytes than Content-Length announced.
            transport.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(disconnected.wait(), _DISCONNECT_WAIT_S)
