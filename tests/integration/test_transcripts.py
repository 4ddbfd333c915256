"""Conversation transcripts end to end: real archive runs against the simulator over HTTP,
moto's S3 server (an Object Lock bucket) and the catalog on SQLite and PostgreSQL.

One transcript per conversation, hashed and verified, locked like its recordings; a new
message makes a new version, unchanged messages make none; ``recvault catalog search`` and
``recvault verify`` see it; it is held with any held leg and deleted (every version) after
the conversation's last recording expires or is erased. No message text or sender reaches
a log line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.archive.run import run_archive_locally
from flows.archive.summary import RunSummary
from flows.retention.erasure import run_erasure
from flows.retention.holds import place_hold, release_holds
from flows.retention.steps import run_retention
from flows.retention.transcripts import transcript_versions
from flows.services import Services
from flows.verify.steps import verify_archive
from models.keys import transcript_key
from models.policy.rules import Policy
from models.transcripts import canonical_transcript
from simulator.scenario import Scenario
from simulator.server import SimulatorServer
from storage.catalog.store import Catalog
from storage.infobip.conversations import ConversationsSource
from storage.s3.store import ObjectStore
from storage.workdir import WorkDir
from tests.fixtures.archive import MakeRunEnv
from tests.fixtures.s3 import MakeStore
from tests.fixtures.simulator import infobip_client
from tests.integration.retention_support import TEST_IDENTITY_KEY, Clock, fast_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Two conversations of two legs each (customer and agent), audio only.
SCENARIO = Scenario(
    seed=21,
    count=4,
    video_ratio=0.0,
    composed_ratio=0.0,
    mp3_ratio=0.0,
    legs_weights=(0.0, 1.0, 0.0),
)
START = SCENARIO.start_at
WINDOW = (START - timedelta(hours=1), START + timedelta(hours=1))
LOCKED = Policy.loads(
    """
version = 1
[[rules]]
name = "locked-2y"
retention = "2y"
object_lock_mode = "GOVERNANCE"
derivative = "none"
"""
)
# No S3 lock, so the run's clock alone decides expiry; other legs go with an erased person.
UNLOCKED = Policy.loads(
    """
version = 1
erasure_other_legs = "erase"
[[rules]]
name = "keep-30d"
retention = "30d"
object_lock_mode = "none"
delete_source = "never"
derivative = "none"
"""
)


@contextmanager
def services(
    sim: SimulatorServer,
    *,
    catalog: Catalog,
    store: ObjectStore,
    policy: Policy,
    clock: Clock,
    tmp_path: Path,
    **settings: Any,
) -> Iterator[Services]:
    client = infobip_client(sim, backoff_scale=0.01)
    try:
        yield Services(
            settings=fast_settings(tmp_path, identity_key=TEST_IDENTITY_KEY, **settings),
            catalog=catalog,
            store=store,
            policy=policy,
            workdir=WorkDir(tmp_path / "work", max_bytes=1024**3),
            sources={"conversations": ConversationsSource(client)},
            clock=clock,
            actor="tester@transcripts",
        )
    finally:
        client.close()


def archive(deps: Services) -> RunSummary:
    return run_archive_locally(deps, *WINDOW)


def conversations(sim: SimulatorServer) -> dict[str, list[dict[str, Any]]]:
    legs: dict[str, list[dict[str, Any]]] = {}
    for element in sorted(sim.recordings(), key=lambda e: e["startedAt"]):
        legs.setdefault(element["conversationId"], []).append(element)
    assert len(legs) == 2
    return legs


def personal_data(sim: SimulatorServer, conversation_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for cid in conversation_ids:
        for message in sim.state.messages.messages_of(cid):
            found |= {message["from"], message["to"], message["content"]["text"]}
    return found - {"447700900000"}  # the business number is not a person's


def test_transcripts_are_stored_versioned_locked_searchable_and_verified(
    start_simulator: Any,
    make_store: MakeStore,
    s3_bucket: str,
    catalog_url: str,
    tmp_path: Path,
    make_run_env: MakeRunEnv,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    store = make_store(s3_bucket)
    clock = Clock(START + timedelta(hours=2))
    with start_simulator(SCENARIO) as sim, Catalog.open(catalog_url) as catalog:
        legs = conversations(sim)
        first, second = legs
        kw: dict[str, Any] = {"catalog": catalog, "store": store, "clock": clock}
        with services(sim, **kw, policy=LOCKED, tmp_path=tmp_path) as deps:
            summary = archive(deps)
            assert summary.outcomes["archived"] == 4
            assert summary.transcripts == {"stored": 2}
            for cid in legs:
                row = catalog.transcript(cid)
                assert row is not None and row.status == "ARCHIVED" and row.versions == 1
                expected = canonical_transcript(cid, sim.state.messages.messages_of(cid))
                assert (row.sha256, row.size_bytes) == (expected.sha256, expected.size_bytes)
                assert row.message_count == expected.message_count >= 3
                assert row.key == transcript_key(cid)
                assert store.get_bytes(row.key, version_id=row.version_id) == expected.data
                # The recordings' lock: the latest retain-until of their objects, same mode.
                objects = [
                    o for _r, objs in catalog.recordings_of_conversations([cid]) for o in objs
                ]
                until = max(o.retain_until for o in objects if o.retain_until)
                head = store.head(row.key, version_id=row.version_id)
                assert head is not None and head.lock_mode == row.lock_mode == "GOVERNANCE"
                assert head.retain_until is not None
                assert abs((head.retain_until - until).total_seconds()) < 1

            # Unchanged messages: no new version. A new message: exactly one new version.
            assert archive(deps).transcripts == {"unchanged": 2}
            sim.state.messages.add_message(first, "One more thing: my number is 447700900999")
            assert archive(deps).transcripts == {"stored": 1, "unchanged": 1}
            row = catalog.transcript(first)
            assert (
                row is not None
                and row.versions == 2
                and row.message_count == len(sim.state.messages.messages_of(first))
            )
            versions = transcript_versions(deps, first)
            assert len(versions) == 2 and all(v.lock_mode == "GOVERNANCE" for v in versions)
            assert len(transcript_versions(deps, second)) == 1
            events = [e for e in catalog.audit_events() if e.event == "transcript_archived"]
            written = [e.detail["conversation_id"] for e in events if e.detail]
            assert written == [*sorted(legs), first]

            report = verify_archive(catalog, store)
            assert report.ok and report.transcripts == 2
            deep = verify_archive(catalog, store, deep=True, identity_key=TEST_IDENTITY_KEY)
            assert deep.ok, deep.problems

        env = make_run_env(sim, bucket=s3_bucket, catalog_url=catalog_url)
        found = env.cli("catalog", "search", "--conversation-id", first, "--json")
        assert found.returncode == 0, found.stderr
        elements = json.loads(found.stdout)
        assert {e["conversation_id"] for e in elements} == {first} and len(elements) == 2
        for element in elements:
            assert {o["kind"] for o in element["objects"]} == {"original"}
            t = element["transcript"]
            assert t["kind"] == "transcript" and t["key"] == transcript_key(first)
            assert (t["sha256"], t["version_id"]) == (row.sha256, row.version_id)
            assert t["message_count"] == row.message_count and t["versions"] == 2

        # Bytes written over the transcript outside recvault: verify says so.
        store.client.put_object(Bucket=s3_bucket, Key=transcript_key(second), Body=b"{}")
        tampered = verify_archive(catalog, store)
        assert not tampered.ok
        assert [p.key.split(" ")[0] for p in tampered.problems] == [transcript_key(second)]
        deep = verify_archive(catalog, store, deep=True, identity_key=TEST_IDENTITY_KEY)
        assert any("not written by recvault" in p.problem for p in deep.problems)

    logged = caplog.text
    leaks = [value for value in personal_data(sim, list(legs)) if value in logged]
    assert leaks == []


def test_transcripts_follow_holds_expiry_and_erasure(
    start_simulator: Any, make_store: MakeStore, s3_bucket: str, catalog_url: str, tmp_path: Path
) -> None:
    store = make_store(s3_bucket)
    clock = Clock(START + timedelta(hours=2))
    with start_simulator(SCENARIO) as sim, Catalog.open(catalog_url) as catalog:
        legs = conversations(sim)
        held, expiring = legs
        kw: dict[str, Any] = {"catalog": catalog, "store": store, "clock": clock}
        with services(sim, **kw, policy=UNLOCKED, tmp_path=tmp_path) as deps:
            assert archive(deps).transcripts == {"stored": 2}
            agent = next(e for e in legs[held] if e["participantType"] == "AGENT")
            place_hold(
                deps, scope_kind="call", scope_value=agent["callId"], reason="r", case_ref="C-1"
            )
            # One held leg holds the whole conversation's transcript, every version of it,
            # and a version written while the hold stands is held at upload.
            assert [v.legal_hold for v in transcript_versions(deps, held)] == [True]
            assert [v.legal_hold for v in transcript_versions(deps, expiring)] == [False]
            sim.state.messages.add_message(held, "Any news on my refund?")
            assert archive(deps).transcripts == {"stored": 1, "unchanged": 1}
            assert [v.legal_hold for v in transcript_versions(deps, held)] == [True, True]
            # Switched off from outside: deep verify says so, and retention puts it back.
            current = catalog.transcript(held)
            assert current is not None
            store.set_legal_hold(current.key, version_id=current.version_id, on=False)
            deep = verify_archive(catalog, store, deep=True, identity_key=TEST_IDENTITY_KEY)
            assert [p for p in deep.problems if "transcript of held conversation" in p.problem]
            run_retention(deps, dry_run=False)
            assert [v.legal_hold for v in transcript_versions(deps, held)] == [True, True]
            deep = verify_archive(catalog, store, deep=True, identity_key=TEST_IDENTITY_KEY)
            assert deep.ok, deep.problems

            clock.advance(days=40)  # past the 30 days of every recording
            run = run_retention(deps, dry_run=False)
            assert [(t.conversation_id, t.outcome) for t in run.transcripts] == [(expiring, "done")]
            assert transcript_versions(deps, expiring) == []
            gone = catalog.transcript(expiring)
            assert gone is not None and gone.status == "EXPIRED" and gone.deleted_at is not None
            (cert,) = [e.detail for e in catalog.audit_events() if e.event == "transcript_expired"]
            assert cert is not None and cert["conversation_id"] == expiring
            assert len(cert["objects"]) == 1
            # The held conversation: its customer leg expired, its transcript did not.
            states = {
                r.recording_id: r.state for r, _ in catalog.recordings_of_conversations([held])
            }
            assert states[agent["recordingId"]] == "ARCHIVED"
            assert "EXPIRED" in states.values()
            kept = catalog.transcript(held)
            assert kept is not None and kept.status == "ARCHIVED"
            assert len(transcript_versions(deps, held)) == 2

            # An expired conversation's transcript is never written again, even when its
            # messages change.
            sim.state.messages.add_message(expiring, "late message")
            assert archive(deps).transcripts.get("stored", 0) == 0
            assert transcript_versions(deps, expiring) == []

            # Released: the S3 hold comes off; an erasure of the agent then takes the last
            # leg, and the transcript goes with it.
            release_holds(deps, "C-1")
            assert [v.legal_hold for v in transcript_versions(deps, held)] == [False, False]
            erased = run_erasure(deps, agent["participantIdentity"], dry_run=False)
            assert [(t.conversation_id, t.outcome) for t in erased.transcripts] == [(held, "done")]
            assert transcript_versions(deps, held) == []
            row = catalog.transcript(held)
            assert row is not None and row.status == "ERASED"
            (cert,) = [e.detail for e in catalog.audit_events() if e.event == "transcript_erased"]
            assert cert is not None and cert["request_id"] == erased.plan.request_id
            assert verify_archive(catalog, store).transcripts == 0
        assert catalog.verify_audit_chain() == []


def test_all_mode_keeps_chats_without_recordings_too(
    start_simulator: Any, make_store: MakeStore, s3_bucket: str, catalog_url: str, tmp_path: Path
) -> None:
    store = make_store(s3_bucket)
    clock = Clock(START + timedelta(hours=2))
    scenario = SCENARIO.model_copy(update={"chat_conversations": 1})
    with start_simulator(scenario) as sim, Catalog.open(catalog_url) as catalog:
        recorded = set(conversations(sim))
        (chat,) = set(sim.state.messages.conversation_ids()) - recorded
        kw: dict[str, Any] = {"catalog": catalog, "store": store, "clock": clock}
        with services(sim, **kw, policy=UNLOCKED, tmp_path=tmp_path, transcripts="all") as deps:
            assert archive(deps).transcripts == {"stored": 3}
            row = catalog.transcript(chat)
            expected = canonical_transcript(chat, sim.state.messages.messages_of(chat))
            assert row is not None and row.sha256 == expected.sha256
            assert row.lock_mode is None  # no recording to take a lock from
            # Retention has no recording to follow for the chat: it stays.
            clock.advance(days=40)
            run = run_retention(deps, dry_run=False)
            assert sorted(t.conversation_id for t in run.transcripts) == sorted(recorded)
            assert len(transcript_versions(deps, chat)) == 1
        with services(sim, **kw, policy=UNLOCKED, tmp_path=tmp_path, transcripts="off") as deps:
            sim.state.messages.add_message(chat, "hello again")
            assert archive(deps).transcripts == {}
