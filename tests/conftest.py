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
    "tests.fixtures.prefect_server",
    "tests.fixtures.archive",
    "tests.fixtures.faults",
    "tests.fixtures.ordering",
    "tests.fixtures.auditor",
]

_STRIPPED_PREFIXES = ("RECVAULT_", "AWS_", "PREFECT_API_URL")
_KEEP = {"RECVAULT_TEST_PG_URL"}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's own configuration."""
    for name in list(os.environ):
        if name.startswith(_STRIPPED_PREFIXES) and name not in _KEEP:
            monkeypatch.delenv(name)
    yield
