"""Canonical audit bodies and chain hashes are deterministic and sensitive to every field."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum

import pytest

from storage.catalog.audit import canonical_body, chain_hash, normalize_detail

AT = datetime(2025, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)
BASE = {
    "at": AT,
    "recording_id": "r1",
    "event": "ready",
    "from_state": "DISCOVERED",
    "to_state": "READY",
    "actor": "w1",
    "detail": {"b": 1, "a": [1, 2]},
}


def test_body_is_canonical_json() -> None:
    body = canonical_body(**BASE)  # type: ignore[arg-type]
    assert body == (
        '{"actor":"w1","at":"2025-03-01T09:00:00.123456+00:00","detail":{"a":[1,2],"b":1},'
        '"event":"ready","from_state":"DISCOVERED","recording_id":"r1","to_state":"READY"}'
    )


def test_same_instant_in_another_zone_hashes_the_same() -> None:
    shifted = AT.astimezone(timezone(timedelta(hours=5)))
    assert canonical_body(**{**BASE, "at": shifted}) == canonical_body(**BASE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("recording_id", "r2"),
        ("event", "x"),
        ("from_state", None),
        ("to_state", "FAILED"),
        ("actor", "w2"),
        ("detail", {"b": 2, "a": [1, 2]}),
        ("at", AT + timedelta(microseconds=1)),
    ],
)
def test_every_field_changes_the_hash(field: str, value: object) -> None:
    original = chain_hash("p" * 64, canonical_body(**BASE))  # type: ignore[arg-type]
    changed = chain_hash("p" * 64, canonical_body(**{**BASE, field: value}))  # type: ignore[arg-type]
    assert changed != original


def test_chain_hash_is_sha256_of_prev_plus_body() -> None:
    assert chain_hash(None, "{}") == hashlib.sha256(b"{}").hexdigest()
    assert chain_hash("ab", "{}") == hashlib.sha256(b"ab{}").hexdigest()


class Color(Enum):
    RED = "red"


def test_normalize_detail_gives_plain_json() -> None:
    detail = {"at": AT, "color": Color.RED, "ids": ("a", "b"), "tags": {"y", "x"}, "n": None}
    assert normalize_detail(detail) == {
        "at": "2025-03-01T09:00:00.123456+00:00",
        "color": "red",
        "ids": ["a", "b"],
        "tags": ["x", "y"],
        "n": None,
    }
    assert normalize_detail(None) is None
    with pytest.raises(ValueError, match="naive"):
        normalize_detail({"at": datetime(2025, 1, 1)})
    with pytest.raises(TypeError, match="not JSON"):
        normalize_detail({"x": object()})
