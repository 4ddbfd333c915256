"""Shared test set-up. Expensive fixtures live in tests/fixtures/ and are session-scoped."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.s3",
    "tests.fixtures.db",
    "tests.fixtures.prefect",
    "tests.fixtures.archive",
    "tests.fixtures.faults",
]

_STRIPPED_PREFIXES = ("RECVAULT_", "AWS_", "PREFECT_API_URL")
_KEEP = {"RECVAULT_TEST_PG_URL"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first, otherwise in collection order (a stable sort).

    ``scripts/test`` runs ``pytest -n 4 --dist loadgroup``: every test without an
    ``xdist_group`` is its own unit of work, handed to whichever worker is free. Started first,
    the long tests (kill -9 matrix, end-to-end flows) run side by side with the rest instead of
    one of them running alone at the end.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's own configuration."""
    for name in list(os.environ):
        if name.startswith(_STRIPPED_PREFIXES) and name not in _KEEP:
            monkeypatch.delenv(name)
    yield
