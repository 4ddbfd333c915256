"""Erasure that finishes the job (issue 9, findings 7 and 8), over a SQLite catalog and the
dict-backed bucket: identities in their normal form, a keyed hash in the audit log, FAILED and
QUARANTINED recordings, the other legs, and a person remembered once erased."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

from flows.archive.steps import not_erased
from flows.audit.check import verify_audit
from flows.retention.erasure import run_erasure
from flows.retention.holds import place_hold, release_holds
from flows.retention.steps import apply_plan, plan_retention
from models.errors import ConfigError
from models.identity import identity_hmac
from models.policy.rules import Policy
from models.settings import Settings
from models.states import RecordingState as S
from models.tables import LegalHold
from storage.catalog.holds import ERASED_SCOPE
from storage.catalog.store import Catalog
from tests.fixtures.db import make_meta, sqlite_url
from tests.unit.fakes.store import FakeStore
from tests.unit.retention_fakes import make_deps, seed_archived

POLICY = 'version = 1\n[[rules]]\nname = "r"\nretention = "1y"\nderivative = "none"\n'
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PHONE = "447700900825"  # as Infobip sends it


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Catalog, FakeStore, Any, Any]]:
    store = FakeStore(lambda: T0 + timedelta(days=1))
    with Catalog.open(sqlite_url(tmp_path / "c.db")) as catalog:
        deps, source = make_deps(catalog, store, Policy.loads(POLICY), lambda: T0 + timedelta(1))
        yield catalog, store, deps, source


def _events(catalog: Catalog) -> str:
    return json.dumps([[e.event, e.detail] for e in catalog.audit_events()])


def test_an_identity_is_found_in_any_spelling_and_named_only_by_a_keyed_hash(env: Any) -> None:
    """Finding 8: `erase --participant-identity +447700900825` found nothing where the catalog
    holds 447700900825. Finding 7: the audit log had an unsalted SHA-256 of the number (found
    again by trying every number) and the free-text reference."""
    catalog, store, deps, source = env
    seed_archived(catalog, store, "own", started_at=T0, participantIdentity=PHONE)
    run = run_erasure(deps, "+44 7700 900825", dry_run=False, reference="Ticket 12, Ada Abbott")
    assert [(r.recording_id, r.outcome) for r in run.results] == [("own", "done")]
    assert source.deleted == ["own"] and catalog.get("own").state == S.EXPIRED
    logged = _events(catalog)
    for secret in (PHONE, "Ada Abbott", hashlib.sha256(PHONE.encode()).hexdigest()):
        assert secret not in logged
    assert hashlib.sha256(b"+447700900825").hexdigest() not in logged
    key = deps.settings.identity_secret
    assert identity_hmac(PHONE, key=key) in logged
    assert run.as_dict()["plan"]["identity_hmac"] == identity_hmac(PHONE, key=key)


def test_failed_and_quarantined_recordings_are_erased_with_their_source_copy(env: Any) -> None:
    """Finding 7: FAILED and QUARANTINED rows were refused (exit 0) and kept name, identity,
    file name and raw metadata, and their copy at Infobip."""
    catalog, _store, deps, source = env
    at = T0 + timedelta(hours=1)
    metas = [
        make_meta(rid, started_at=T0, participantIdentity=PHONE, participantName="Ada Abbott")
        for rid in ("failed", "quarantined")
    ]
    catalog.upsert_discovered(metas, at=at, actor="t")
    catalog.record_failure(
        "failed", error="gone", retryable=False, at=at, actor="t", max_attempts=1, retry_at=None
    )
    catalog.transition("quarantined", S.QUARANTINED, actor="t", event="unreadable_media", at=at)
    run = run_erasure(deps, PHONE, dry_run=False)
    assert {(r.recording_id, r.outcome) for r in run.results} == {
        ("failed", "done"),
        ("quarantined", "done"),
    }
    assert sorted(source.deleted) == ["failed", "quarantined"]
    for rid in ("failed", "quarantined"):
        row = catalog.get(rid)
        assert row.state == S.EXPIRED and row.source_deleted_at is not None
        assert row.participant_identity is None and row.participant_name is None
        assert row.raw is None and row.filename is None
        cert = next(e for e in catalog.audit_events(rid) if e.event == "archive_erased")
        assert "not archived" in (cert.detail or {})["archive_check"]["result"]


def test_the_other_legs_follow_the_policy(env: Any) -> None:
    catalog, store, deps, _source = env
    seed_archived(
        catalog, store, "own", started_at=T0, conversationId="c1", participantIdentity=PHONE
    )
    seed_archived(
        catalog,
        store,
        "agent",
        started_at=T0,
        conversationId="c1",
        participantIdentity="agent@x.example",
    )
    assert [i.recording_id for i in run_erasure(deps, PHONE, dry_run=True).plan.items] == ["own"]
    deps.policy = Policy.loads('erasure_other_legs = "erase"\n' + POLICY)
    plan = run_erasure(deps, PHONE, dry_run=True).plan
    assert sorted(i.recording_id for i in plan.items) == ["agent", "own"]
    assert plan.as_dict()["other_legs"] == "erase"


def test_an_erased_person_is_not_archived_again(env: Any) -> None:
    catalog, store, deps, _source = env
    seed_archived(catalog, store, "own", started_at=T0, participantIdentity=PHONE)
    run_erasure(deps, PHONE, dry_run=False)
    later_listed = [
        make_meta("missed", started_at=T0 - timedelta(days=1), participantIdentity=PHONE),
        make_meta("new-call", started_at=T0 + timedelta(days=2), participantIdentity=PHONE),
        make_meta("someone", started_at=T0, participantIdentity="441111111111"),
    ]
    kept = not_erased(deps, later_listed)
    assert [m.recording_id for m in kept] == ["new-call", "someone"]
    skipped = [e for e in catalog.audit_events() if e.event == "erased_recordings_skipped"]
    assert [(e.detail or {})["recordings"] for e in skipped] == [["missed"]]


def test_no_identity_key_no_erasure_and_no_participant_hold(env: Any) -> None:
    catalog, _store, deps, _source = env
    deps.settings = Settings(_env_file=None)
    with pytest.raises(ConfigError, match="RECVAULT_IDENTITY_KEY is not set"):
        run_erasure(deps, PHONE, dry_run=True)
    with pytest.raises(ConfigError, match="RECVAULT_IDENTITY_KEY is not set"):
        place_hold(deps, scope_kind="participant", scope_value=PHONE, reason="r", case_ref="K")
    assert catalog.list_holds() == []


def test_a_participant_hold_matches_every_spelling(env: Any) -> None:
    catalog, store, deps, _source = env
    seed_archived(
        catalog, store, "own", started_at=T0, conversationId="c1", participantIdentity=PHONE
    )
    seed_archived(
        catalog,
        store,
        "agent",
        started_at=T0,
        conversationId="c1",
        participantIdentity="agent@x.example",
    )
    report = place_hold(
        deps, scope_kind="participant", scope_value="0044 7700 900825", reason="r", case_ref="K"
    )
    assert report.recordings == 2  # the person's leg and the other leg of the conversation
    assert catalog.holds_covering("agent") == [report.hold.id]
    assert PHONE not in _events(catalog) and "900825" not in _events(catalog)


def test_a_participant_hold_placed_after_the_persons_own_leg_expired_covers_the_other_legs(
    env: Any,
) -> None:
    """Finding 7: a participant hold placed after the person's own leg had expired covered
    nothing (the tombstone no longer names them), so the agent's leg of the same conversation,
    which carries their voice too, could still expire. The tombstone keeps the keyed hash."""
    catalog, store, deps, _source = env
    deps.policy = Policy.loads(
        'version = 1\n[[rules]]\nname = "agents"\nmatch = { participant_type = ["AGENT"] }\n'
        'retention = "1y"\nderivative = "none"\n'
        '[[rules]]\nname = "rest"\nretention = "30d"\nderivative = "none"\n'
    )
    legs: dict[str, dict[str, Any]] = {
        "own": {"conversationId": "c1", "participantIdentity": PHONE},
        "agent": {
            "conversationId": "c1",
            "participantIdentity": "agent@x.example",
            "participantType": "AGENT",
        },
        "stranger": {"conversationId": "c2", "participantIdentity": "441111111111"},
    }
    for rid, fields in legs.items():
        seed_archived(catalog, store, rid, started_at=T0, **fields)
    deps.clock = lambda: T0 + timedelta(days=31)
    run = apply_plan(deps, plan_retention(deps))
    assert {(r.recording_id, r.outcome) for r in run.results} == {
        ("own", "done"),
        ("stranger", "done"),
    }
    own = catalog.get("own")
    assert own.state == S.EXPIRED and own.participant_identity is None
    assert own.participant_identity_hmac == identity_hmac(PHONE, key=deps.settings.identity_secret)

    report = place_hold(
        deps, scope_kind="participant", scope_value="+44 7700 900825", reason="r", case_ref="K"
    )
    assert report.recordings == 2 and report.versions == 1  # the tombstone and the agent's leg
    assert catalog.holds_covering("agent") == [report.hold.id]
    assert catalog.holds_covering("stranger") == []
    ((key, vid),) = [k for k in store.versions if "/agent/" in k[0]]
    assert store.versions[(key, vid)].legal_hold

    deps.clock = lambda: T0 + timedelta(days=400)
    plan = plan_retention(deps)
    assert [(i.recording_id, i.proceed) for i in plan.items if i.action == "expire"] == [
        ("agent", False)
    ]
    assert catalog.get("agent").state == S.ARCHIVED
    assert PHONE not in _events(catalog) and catalog.verify_audit_chain() == []


def test_erasure_removes_the_identity_from_released_participant_holds(env: Any) -> None:
    """Finding 7: `legal_holds.scope_value` kept the identity in clear text after the person
    was erased. A released participant hold loses it (its keyed hash stays, so the audit check
    still ties the row to its event); an active one keeps it, since it still holds the person's
    recordings, and the erasure says so."""
    catalog, store, deps, _source = env
    seed_archived(catalog, store, "own", started_at=T0, participantIdentity=PHONE)
    old = place_hold(deps, scope_kind="participant", scope_value=PHONE, reason="r", case_ref="K1")
    release_holds(deps, "K1")
    active = place_hold(
        deps, scope_kind="participant", scope_value="+44 7700 900825", reason="r", case_ref="K2"
    )

    first = run_erasure(deps, PHONE, dry_run=False)
    assert [(r.recording_id, r.outcome) for r in first.results] == [("own", "refused")]
    assert (first.hold_scopes_erased, first.hold_scopes_kept) == ([old.hold.id], [active.hold.id])
    scopes = {h.id: h.scope_value for h in catalog.list_holds(include_released=True)}
    assert scopes == {old.hold.id: ERASED_SCOPE, active.hold.id: "+447700900825"}

    release_holds(deps, "K2")
    second = run_erasure(deps, PHONE, dry_run=False)
    assert [(r.recording_id, r.outcome) for r in second.results] == [("own", "done")]
    assert second.as_dict()["hold_scopes_erased"] == [active.hold.id]
    every_hold = catalog.list_holds(include_released=True)
    holds_table = json.dumps([h.model_dump(mode="json") for h in every_hold])
    assert "900825" not in holds_table and "900825" not in _events(catalog)
    key = deps.settings.identity_secret
    audit = verify_audit(catalog, anchors=store, store=store, identity_key=key)
    assert [p for p in audit.problems if p.kind == "holds_mismatch"] == []
    assert audit.holds_checked == 2


def test_an_active_hold_whose_scope_was_erased_in_the_table_is_flagged(env: Any) -> None:
    """Only released holds lose their identity: an active hold set to ``(erased)`` by someone
    with database rights would stop holding the person's recordings, so audit verify names it."""
    catalog, store, deps, _source = env
    seed_archived(catalog, store, "own", started_at=T0, participantIdentity=PHONE)
    report = place_hold(deps, scope_kind="participant", scope_value=PHONE, reason="r", case_ref="K")
    key = deps.settings.identity_secret
    assert verify_audit(catalog, anchors=None, store=None, identity_key=key).problems == []
    with catalog._engine.begin() as db:
        db.execute(
            sa.update(LegalHold)
            .where(col(LegalHold.id) == report.hold.id)
            .values(scope_value=ERASED_SCOPE)
        )
    assert catalog.holds_covering("own") == []  # what the edit would buy
    problems = verify_audit(catalog, anchors=None, store=None, identity_key=key).problems
    assert [(p.kind, p.where) for p in problems] == [
        ("holds_mismatch", f"legal hold #{report.hold.id}")
    ]
    assert "scope in the legal_holds table differ" in problems[0].problem
