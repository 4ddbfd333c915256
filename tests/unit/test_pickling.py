"""Prefect sends flows and task arguments to workers: they must survive a cloudpickle round trip."""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path

import cloudpickle
from prefect import Flow

from models.settings import Settings
from recvault.wiring import ServicesFactory

ROOT = Path(__file__).resolve().parents[2]


def _flows() -> list[Flow[..., object]]:
    found = []
    for path in sorted((ROOT / "flows").rglob("*.py")):
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        found += [obj for obj in vars(module).values() if isinstance(obj, Flow)]
    return found


def test_every_flow_survives_cloudpickle() -> None:
    flows = _flows()
    assert {f.name for f in flows} >= {"archive-recordings", "apply-retention"}
    for flow in flows:
        copy = cloudpickle.loads(cloudpickle.dumps(flow))
        assert copy.name == flow.name


def test_the_services_factory_pickles_with_its_secret() -> None:
    factory = ServicesFactory(
        Settings(_env_file=None, infobip_api_key="k-123", s3_bucket="bucket"), archive=False
    )
    copy = pickle.loads(pickle.dumps(factory))  # noqa: S301 - our own bytes
    assert copy == factory
    assert copy.settings.infobip_api_key is not None
    assert copy.settings.infobip_api_key.get_secret_value() == "k-123"
    assert "k-123" not in repr(copy)
