"""Running the simulator: in a background thread for tests, or in the foreground for the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from simulator.app import create_app
from simulator.calls import CallsState
from simulator.scenario import Scenario
from simulator.state import FaultName, SimulatorState
from simulator.streaming import Transports

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 10.0


def _protocol_class(transports: Transports) -> type[H11Protocol]:
    """h11 protocol that remembers each connection's transport, so faults can cut it."""

    class SimulatorProtocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if self.client is not None:
                transports[self.client] = transport

        def connection_lost(self, exc: Exception | None) -> None:
            if self.client is not None:
                transports.pop(self.client, None)
            super().connection_lost(exc)

    return SimulatorProtocol


class SimulatorServer:
    """A running simulator and what tests may ask it."""

    def __init__(self, state: SimulatorState, base_url: str) -> None:
        self.state = state
        self.base_url = base_url
        self.api_key = state.scenario.api_key
        self.scenario = state.scenario
        self._sha256: dict[str, str] = {}

    def media_sha256(self, recording_id: str) -> str:
        """SHA-256 of the bytes a clean download yields (version 0 when bytes change)."""
        if recording_id not in self._sha256:
            rec = self.state.recording(recording_id)
            self._sha256[recording_id] = self.state.media_body(rec, 0).sha256()
        return self._sha256[recording_id]

    def media_size(self, recording_id: str) -> int:
        return self.state.media_body(self.state.recording(recording_id), 0).size

    def media_bytes(self, recording_id: str) -> bytes:
        """Version 0 of a recording's media, in memory: only for small recordings."""
        body = self.state.media_body(self.state.recording(recording_id), 0)
        return b"".join(body.chunks())

    def recordings(self) -> list[dict[str, Any]]:
        """The metadata elements as the API would list them now (without counting a listing)."""
        return self.state.recordings()

    def ids_with(self, fault: FaultName) -> list[str]:
        """Recording ids a per-recording fault was switched on for, in data set order."""
        chosen = self.state.picks[fault]
        return [e["recordingId"] for e in self.state.recordings() if e["recordingId"] in chosen]

    @property
    def calls(self) -> CallsState:
        """The Calls recordings world: ``files()``, ``entities(kind)``, ``ids_with(fault)``."""
        return self.state.calls

    @property
    def deleted(self) -> set[str]:
        return self.state.deleted_ids()

    @property
    def request_counts(self) -> Counter[tuple[str, int]]:
        return self.state.counts()

    def bytes_served(self, endpoint: str = "download") -> int:
        """Media body bytes sent (Conversations downloads by default), cut responses included."""
        return self.state.served(endpoint)

    def count(self, endpoint: str, status: int | None = None) -> int:
        """Requests seen for an endpoint, optionally only those answered with ``status``."""
        return sum(
            n
            for (name, code), n in self.request_counts.items()
            if name == endpoint and status in (None, code)
        )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # An explicit IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections; without
    # it every response waits ~40 ms on Nagle plus the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _uvicorn_server(state: SimulatorState, host: str, port: int) -> uvicorn.Server:
    transports: Transports = {}
    config = uvicorn.Config(
        create_app(state, transports),
        host=host,
        port=port,
        http=_protocol_class(transports),
        lifespan="off",
        log_config=None,
        access_log=False,  # its lines carry query strings, which may hold personal data
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@contextlib.contextmanager
def serve_in_thread(
    scenario: Scenario,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    cache_dir: Path | None = None,
) -> Iterator[SimulatorServer]:
    """Start the simulator on a background thread (port 0: a free port); stop it on exit."""
    state = SimulatorState(scenario, cache_dir=cache_dir)
    sock = _bind(host, port)
    server = _uvicorn_server(state, host, port)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="simulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("simulator did not start")
        time.sleep(0.01)
    base_url = _base_url(sock)
    log.info("simulator started base_url=%s recordings=%d", base_url, scenario.count)
    try:
        yield SimulatorServer(state, base_url)
    finally:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT_S)
        sock.close()


def serve(
    scenario: Scenario, *, host: str = "127.0.0.1", port: int = 8099, cache_dir: Path | None = None
) -> None:
    """Serve in the foreground until interrupted; first prints the base URL and API key."""
    state = SimulatorState(scenario, cache_dir=cache_dir)
    sock = _bind(host, port)
    sys.stdout.write(f"simulator base_url={_base_url(sock)} api_key={scenario.api_key}\n")
    sys.stdout.flush()
    try:
        _uvicorn_server(state, host, port).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn re-raises the SIGINT it shut down on; stopping is this function's normal end.
        pass
    finally:
        sock.close()
    log.info("simulator stopped")
