"""Fixtures of the unit tier: services over in-memory fakes (``tests.unit.fakes``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from storage import media
from tests.unit.fakes import FakeServices, services
from tests.unit.fakes.media import PROBE_MEMO, ProbeMemo

MakeServices = Callable[..., FakeServices]


@pytest.fixture
def make_services(tmp_path: Path, probe_memo: ProbeMemo) -> Iterator[MakeServices]:
    """``services(tmp_path / name, **kwargs)``; every catalog is closed after the test.

    The steps' ffprobe runs once per distinct file content (``probe_memo``)."""
    built: list[FakeServices] = []

    def make(name: str = "svc", **kwargs: Any) -> FakeServices:
        svc = services(tmp_path / name, **kwargs)
        built.append(svc)
        return svc

    yield make
    for svc in built:
        svc.close()


@pytest.fixture
def svc(make_services: MakeServices, probe_memo: ProbeMemo) -> FakeServices:
    """Services over the fakes with the unit settings (3 attempts, back-off 30 s doubling)."""
    return make_services()


@pytest.fixture
def probe_memo(monkeypatch: pytest.MonkeyPatch) -> ProbeMemo:
    """The real ffprobe, run once per distinct file content in this process."""
    monkeypatch.setattr(media, "probe", PROBE_MEMO)
    return PROBE_MEMO
