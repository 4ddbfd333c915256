"""The composition root as docs/architecture.md describes it ("The composition root"): a
picklable factory, found by deployed flow runs through the ``recvault.composition`` entry point."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from importlib.metadata import entry_points

import cloudpickle  # type: ignore[import-untyped]
import pytest

from flows.services import COMPOSITION_ENTRY_POINT
from models.settings import Settings
from recvault.wiring import ServicesFactory


def _settings() -> Settings:
    return Settings(
        infobip_base_url="https://example.api.infobip.com",
        infobip_api_key="SeCrEt-key",
        s3_bucket="recvault-test",
    )


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
def test_factory_survives_a_pickle_round_trip(dumps: Callable[[object], bytes]) -> None:
    factory = ServicesFactory(_settings(), archive=False)
    copy = pickle.loads(dumps(factory))  # noqa: S301 - our own bytes, as Prefect does
    assert copy == factory
    # Same identity: a copy Prefect makes of a task argument finds the same open services.
    assert copy._identity() == factory._identity()
    assert "SeCrEt-key" not in repr(copy)


def test_entry_point_names_the_composition_root() -> None:
    found = entry_points(group=COMPOSITION_ENTRY_POINT, name="default")
    assert [ep.value for ep in found] == ["recvault.wiring:ServicesFactory"]
    assert next(iter(found)).load() is ServicesFactory
