"""Audit anchors over a SQLite catalog and the dict-backed bucket: the key, the lock, the
fallback on a bucket without Object Lock, and a failure that never fails the run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.audit.anchor import anchor_key, parse_anchor_key, write_anchor
from flows.audit.check import verify_audit
from models.errors import ObjectStoreError
from models.policy.rules import Policy
from storage.catalog.store import Catalog
from tests.fixtures.db import sqlite_url
from tests.unit.fakes.store import FakeStore
from tests.unit.retention_fakes import make_deps

POLICY = Policy.loads('version = 1\n[[rules]]\nname = "r"\nretention = "1y"\n')
NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Catalog, FakeStore, Any]]:
    store = FakeStore(lambda: NOW)
    with Catalog.open(sqlite_url(tmp_path / "c.db")) as catalog:
        deps, _ = make_deps(catalog, store, POLICY, lambda: NOW)
        yield catalog, store, deps


def test_anchor_keys_carry_the_head() -> None:
    key = anchor_key(42, "ab" * 32)
    assert key == f"audit-anchors/0000000000000042-{'ab' * 32}.json"
    assert parse_anchor_key(key) == (42, "ab" * 32)
    assert parse_anchor_key("audit-anchors/notes.txt") is None


def test_an_anchor_is_locked_written_once_and_names_the_head(env: Any) -> None:
    catalog, store, deps = env
    assert write_anchor(deps, run="test") is None  # no event, nothing to anchor
    for n in range(3):
        catalog.append_audit(event=f"e{n % 2}", actor="t", at=NOW)
    report = write_anchor(deps, run="test")
    assert report is not None and report.ok and report.locked_until is not None
    assert report.locked_until > datetime.now(UTC) + timedelta(days=3650)
    head = catalog.audit_chain_head()
    assert head is not None and report.key == anchor_key(head.sequence, head.hash)
    ((info, body),) = store.small.values()
    assert info.lock_mode == "COMPLIANCE" and info.retain_until == report.locked_until
    assert json.loads(body)["counts"] == {"e0": 2, "e1": 1}
    assert json.loads(body)["run"] == "test"
    again = write_anchor(deps, run="test")
    assert again is not None and again.already_there and len(store.small) == 1
    audit = verify_audit(catalog, anchors=store, store=None)
    assert audit.ok and audit.anchors == audit.anchors_agreeing == 1


def test_no_object_lock_means_an_unlocked_anchor_and_a_warning(
    env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    catalog, store, deps = env
    store.object_lock = False
    catalog.append_audit(event="e", actor="t", at=NOW)
    report = write_anchor(deps, run="test")
    assert report is not None and report.ok and report.locked_until is None
    ((info, _),) = store.small.values()
    assert info.lock_mode is None and info.retain_until is None
    assert "without Object Lock" in caplog.text


def test_a_failed_anchor_is_reported_not_raised(env: Any) -> None:
    catalog, store, deps = env
    catalog.append_audit(event="e", actor="t", at=NOW)

    def broken(*_a: Any, **_k: Any) -> None:
        raise ObjectStoreError("S3 PutObject failed for now: retry later")

    store.put_bytes = broken
    report = write_anchor(deps, run="test")
    assert report is not None and not report.ok and "retry later" in (report.error or "")
