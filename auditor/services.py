"""What the auditor app works with, built by the composition root and handed to ``create_app``.

The app sees ports only: it cannot reach a writer's methods, a source or a work dir.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from auditor.schemas import HoldResult
    from auditor.tokens import Principal, TokenBook
    from models.ports import AccessLog, CatalogReader, PlaybackLinks


def utc_now() -> datetime:
    return datetime.now(UTC)


class HoldDesk(Protocol):
    """Places and releases legal holds for the compliance-officer role."""

    def place(
        self, who: Principal, *, scope_kind: str, scope_value: str, reason: str, case_ref: str
    ) -> HoldResult: ...

    def release(self, who: Principal, ref: str) -> list[HoldResult]: ...


@dataclass
class AuditorServices:
    reader: CatalogReader
    access_log: AccessLog
    links: PlaybackLinks
    tokens: TokenBook
    holds: HoldDesk
    url_ttl_s: int = 300
    clock: Callable[[], datetime] = utc_now
    closers: Sequence[Callable[[], None]] = field(default_factory=tuple)

    def close(self) -> None:
        for close in self.closers:
            close()
