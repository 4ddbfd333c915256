"""In-memory fakes of the ports (``models.ports``, the archive store), raising the real
``models.errors`` types, and ``services()`` to build a ``Services`` over them."""

from tests.unit.fakes.clock import FakeClock
from tests.unit.fakes.media import not_media, tiny_wav
from tests.unit.fakes.services import ORIGINAL_ONLY, FakeServices, fresh_catalog, services
from tests.unit.fakes.source import (
    T0,
    FakeSource,
    Serve,
    failed,
    gone,
    preparing,
    ready,
    waiting,
)
from tests.unit.fakes.store import FakeStore

__all__ = [
    "ORIGINAL_ONLY",
    "T0",
    "FakeClock",
    "FakeServices",
    "FakeSource",
    "FakeStore",
    "Serve",
    "failed",
    "fresh_catalog",
    "gone",
    "not_media",
    "preparing",
    "ready",
    "services",
    "tiny_wav",
    "waiting",
]
