"""Range handling and the plan of one download response."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from simulator.errors import ApiError
from simulator.media import MediaBody

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


@dataclass(frozen=True)
class DownloadPlan:
    media_id: str  # the recording or file id, for logs
    filename: str  # for Content-Disposition
    body: MediaBody
    start: int
    end: int  # exclusive
    partial: bool
    cut: Literal["drop", "truncate"] | None = None
    cut_after: int | None = None  # body bytes sent before the cut
    content_type: str | None = None  # None: the media's own (audio/wav, video/mp4, ...)

    @property
    def status(self) -> int:
        return 206 if self.partial else 200

    @property
    def length(self) -> int:
        return self.end - self.start

    def headers(self) -> list[tuple[str, str]]:
        headers = [
            ("content-type", self.content_type or self.body.content_type),
            ("content-length", str(self.length)),
            ("accept-ranges", "bytes"),
            ("content-disposition", f'attachment; filename="{self.filename}"'),
        ]
        if self.partial:
            content_range = f"bytes {self.start}-{self.end - 1}/{self.body.size}"
            headers.append(("content-range", content_range))
        return headers


def parse_range(header: str | None) -> tuple[int | None, int | None] | None:
    """``(first, last)`` of a single ``bytes=`` range (either may be None), or None."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header)
    if not match or (not match[1] and not match[2]):
        raise ApiError(400, "Invalid range header format")
    first = int(match[1]) if match[1] else None
    last = int(match[2]) if match[2] else None
    if first is not None and last is not None and last < first:
        raise ApiError(400, "Invalid range header format")
    return first, last


def resolve_range(wanted: tuple[int | None, int | None] | None, size: int) -> tuple[int, int]:
    """``[start, end)`` to serve, or 416 (legacy body) when nothing of the range exists."""
    if wanted is None:
        return 0, size
    first, last = wanted
    if first is None:
        suffix = last or 0
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - suffix), size
    if first >= size:
        raise _unsatisfiable(size)
    return first, size if last is None else min(last + 1, size)


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(
        416,
        "Requested range not satisfiable",
        shape="legacy",
        headers={"content-range": f"bytes */{size}"},
    )
