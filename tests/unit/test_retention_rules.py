"""The pure pieces of retention: what the bucket says, holds before due dates, retain-until,
the source-deletion guard, erasure against locks, hold scopes and what the audit log may hold."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flows.retention.delete import PlannedVersion, certificate, source_deletion_problem
from flows.retention.erasure import _check_versions
from flows.retention.steps import _not_yet, check_store, effective_retain_until
from models.errors import ConfigError
from models.identity import identity_hmac
from models.policy.retention import Action, Decision
from models.policy.rules import Policy
from models.states import RecordingState
from models.tables import ArchivedObject, Recording
from storage.catalog.holds import check_scope, scope_for_audit
from tests.unit.retention_fakes import make_deps

NOW = datetime(2027, 6, 1, tzinfo=UTC)
DELETE = Decision(Action.DELETE, "retention ended")
RULE = Policy.loads('version = 1\n[[rules]]\nname = "r"\nretention = "1y"\n').rules[0]


def _version(**kw: Any) -> PlannedVersion:
    values: dict[str, Any] = {
        "bucket": "b",
        "key": "k",
        "version_id": "v",
        "kind": "original",
        "sha256": "aa",
        "size_bytes": 1,
        "lock_mode": None,
        "retain_until": None,
        "legal_hold": False,
    }
    values.update(kw)
    return PlannedVersion(**values)


def _row(**kw: Any) -> Recording:
    values: dict[str, Any] = {
        "recording_id": "r1",
        "started_at": datetime(2026, 1, 5, tzinfo=UTC),
        "state": RecordingState.ARCHIVED,
        "source_sha256": "aa",
        "participant_identity": "+447700900123",
        "participant_name": "Ada Abbott",
        "filename": "c_+447700900123_x.wav",
    }
    values.update(kw)
    return Recording(**values)


def _original(**kw: Any) -> ArchivedObject:
    values: dict[str, Any] = {
        "recording_id": "r1",
        "kind": "original",
        "bucket": "b",
        "key": "k",
        "size_bytes": 1,
        "sha256": "aa",
        "verified_at": NOW,
    }
    values.update(kw)
    return ArchivedObject(**values)


def test_the_bucket_can_block_or_delay_but_never_hasten() -> None:
    assert check_store(DELETE, [_version()], NOW) == DELETE
    held = check_store(DELETE, [_version(), _version(version_id="w", legal_hold=True)], NOW)
    assert held.action is Action.BLOCKED and "version w" in held.reason
    later = NOW + timedelta(days=3)
    waiting = check_store(DELETE, [_version(lock_mode="GOVERNANCE", retain_until=later)], NOW)
    assert waiting.action is Action.WAIT and waiting.due_at == later
    wait = Decision(Action.WAIT, "not yet", NOW)
    assert check_store(wait, [_version(legal_hold=True)], NOW) is wait


def test_a_hold_refuses_only_once_a_deletion_is_due() -> None:
    blocked = Decision(Action.BLOCKED, "a legal hold is active")
    early = _not_yet(blocked, NOW + timedelta(seconds=1), NOW)
    assert early.action is Action.WAIT and "legal hold" in early.reason
    assert _not_yet(blocked, NOW, NOW) is blocked
    assert _not_yet(DELETE, NOW + timedelta(days=1), NOW) is DELETE


def test_retain_until_is_the_latest_known_date() -> None:
    row = _row()
    rule_date = datetime(2027, 1, 5, tzinfo=UTC)
    assert effective_retain_until(RULE, row, []) == rule_date
    later = rule_date + timedelta(days=10)
    assert effective_retain_until(RULE, row, [_original(retain_until=later)]) == later
    latest = later + timedelta(days=1)
    assert effective_retain_until(RULE, row, [], [_version(retain_until=latest)]) == latest


@pytest.mark.parametrize(
    ("row", "objects", "holds", "expected"),
    [
        (_row(), [_original()], [], None),
        (_row(), [_original()], [3, 4], "legal hold is active (hold #3, #4)"),
        (_row(state=RecordingState.UPLOADED), [_original()], [], "state is UPLOADED"),
        (_row(), [], [], "no archived original"),
        (_row(), [_original(verified_at=None)], [], "no recorded verification"),
        (_row(), [_original(sha256="bb")], [], "hash differs"),
        (_row(source_sha256=None), [_original()], [], "hash differs"),
        (_row(), [_original(deleted_at=NOW)], [], "no archived original"),
    ],
)
def test_source_deletion_guard(
    row: Recording, objects: list[ArchivedObject], holds: list[int], expected: str | None
) -> None:
    problem = source_deletion_problem(row, objects, holds)
    assert (problem is None) if expected is None else (expected in (problem or ""))


def test_erasure_against_object_locks() -> None:
    later = NOW + timedelta(days=30)
    ok, bypass = _check_versions(DELETE, [_version()], NOW)
    assert ok == DELETE and not bypass
    ok, bypass = _check_versions(
        DELETE, [_version(lock_mode="GOVERNANCE", retain_until=later)], NOW
    )
    assert ok == DELETE and bypass
    refused, _ = _check_versions(
        DELETE, [_version(lock_mode="COMPLIANCE", retain_until=later)], NOW
    )
    assert refused.action is Action.BLOCKED and "COMPLIANCE until 2027-07-01" in refused.reason
    past, bypass = _check_versions(
        DELETE, [_version(lock_mode="COMPLIANCE", retain_until=NOW)], NOW
    )
    assert past == DELETE and not bypass
    held, _ = _check_versions(DELETE, [_version(legal_hold=True)], NOW)
    assert held.action is Action.BLOCKED


def test_hold_scopes() -> None:
    assert check_scope("participant", "+447700900123") == "participant"
    with pytest.raises(ConfigError, match="unknown hold scope 'agent'"):
        check_scope("agent", "x")
    with pytest.raises(ConfigError, match="must not be empty"):
        check_scope("call", "  ")
    legacy = scope_for_audit("participant", "Ada@Example.com")  # no key: an older recvault
    assert legacy == {
        "scope_kind": "participant",
        "scope_sha256": hashlib.sha256(b"ada@example.com").hexdigest(),
    }
    keyed = scope_for_audit("participant", "Ada@Example.com", identity_key="k" * 32)
    assert keyed == {
        "scope_kind": "participant",
        "scope_hmac": identity_hmac("ada@example.com", key="k" * 32),
    }
    assert scope_for_audit("call", "c-1") == {"scope_kind": "call", "scope_value": "c-1"}


def test_a_certificate_carries_ids_and_hashes_but_no_personal_data() -> None:
    deps, _ = make_deps(None, None, None, lambda: NOW)  # type: ignore[arg-type]
    row = _row(conversation_id="conv-1", call_id="call-1")
    cert = certificate(
        deps,
        kind="archive_expiry",
        row=row,
        at=NOW,
        why="retention ended",
        rule="r",
        where="s3://b",
        versions=[_version()],
    )
    text = json.dumps(cert)
    assert "+447700900123" not in text and "Ada" not in text
    assert cert["recording"]["conversation_id"] == "conv-1" and cert["source_sha256"] == "aa"
    assert cert["objects"][0]["version_id"] == "v" and cert["who"] == "unit@test"
    assert cert["when"] == "2027-06-01T00:00:00Z" and cert["rule"] == "r"
