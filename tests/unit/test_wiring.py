"""How a deployed flow run finds the composition root (docs/architecture.md, "How a deployed
Prefect run gets its services"): the ``recvault.composition`` entry point names it. The
factory's pickling is checked in ``test_pickling.py``."""

from __future__ import annotations

from importlib.metadata import entry_points

from flows.services import COMPOSITION_ENTRY_POINT
from recvault.wiring import ServicesFactory


def test_entry_point_names_the_composition_root() -> None:
    found = entry_points(group=COMPOSITION_ENTRY_POINT, name="default")
    assert [ep.value for ep in found] == ["recvault.wiring:ServicesFactory"]
    assert next(iter(found)).load() is ServicesFactory
