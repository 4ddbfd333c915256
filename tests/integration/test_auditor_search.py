"""The auditor's searches (``Catalog.find``) on SQLite and PostgreSQL: every filter, id
prefixes and their widening, names by word, identities in any spelling, paging, sorting, and
the audit trail read by filters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from models.errors import ConfigError, RecordingNotFound
from models.search import AuditQuery, IdMatch, RecordingQuery
from models.states import RecordingState
from storage.catalog.schema import alembic_config
from storage.catalog.store import Catalog
from tests.fixtures.db import T0, PgServer, fresh_pg_database, make_meta, sqlite_url

pytestmark = pytest.mark.integration
S = RecordingState
CONV_A = "ca3b0b11-7f2e-4d0a-9c51-1f7a3d2e8b90"
CONV_B = "ca3b0b99-0000-4000-8000-000000000000"


def seed(catalog: Catalog) -> Catalog:
    """A: agent Hugo Martin and a customer on +44 7700 900825; B: agent Zoé Ng, video,
    outbound, transferred from queue 'billing'; C: a Calls recording without conversation."""
    metas = [
        make_meta(
            "rec-a-agent",
            conversationId=CONV_A,
            callId="call-a1",
            participantType="AGENT",
            participantId="agent-1",
            participantIdentity="hugo.martin@example.com",
            participantName="Hugo Martin",
            direction="INBOUND",
            duration=30,
            started_at=T0,
        ),
        make_meta(
            "rec-a-customer",
            conversationId=CONV_A,
            callId="call-a2",
            participantType="CUSTOMER",
            participantIdentity="447700900825",
            participantName="Ada Lovelace",
            direction="INBOUND",
            duration=90,
            started_at=T0 + timedelta(seconds=5),
        ),
        make_meta(
            "rec-b-agent",
            conversationId=CONV_B,
            callId="call-b1",
            participantType="AGENT",
            participantId="agent-2",
            participantName="Zoé Ng",
            mediaType="AUDIO_AND_VIDEO",
            direction="OUTBOUND",
            transferredFromQueue="billing",
            duration=60,
            started_at=T0 + timedelta(days=1),
        ),
    ]
    catalog.upsert_discovered(metas, at=T0, actor="t")
    calls = make_meta("rec-c", started_at=T0 + timedelta(days=2), conversationId=None)
    catalog.upsert_discovered(
        [type(calls)(**{**calls.__dict__, "source": "calls"})], at=T0, actor="t"
    )
    catalog.transition("rec-b-agent", S.READY, actor="t", event="ready", at=T0)
    catalog.record_failure(
        "rec-b-agent",
        error="source answered 404",
        retryable=False,
        at=T0 + timedelta(hours=1),
        actor="archiver",
        max_attempts=3,
        retry_at=None,
    )
    return catalog


@pytest.fixture
def seeded(catalog: Catalog) -> Catalog:
    """A seeded catalog of this test's own (for tests that change it)."""
    return seed(catalog)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Catalog]:
    """One seeded catalog per database for the tests that only read (a fresh PostgreSQL
    database costs about a second)."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = sqlite_url(tmp_path_factory.mktemp("search") / "catalog.db")
        else:
            server: PgServer = request.getfixturevalue("pg_server")
            url = stack.enter_context(fresh_pg_database(server.require()))
        catalog = stack.enter_context(Catalog.open(url))
        yield seed(catalog)


def ids(catalog: Catalog, **filters: object) -> list[str]:
    result = catalog.find(RecordingQuery(**filters))  # type: ignore[arg-type]
    return [row.recording_id for row, _ in result.rows]


ALL = ["rec-a-agent", "rec-a-customer", "rec-b-agent", "rec-c"]


def test_ids_whole_or_as_prefix(shared: Catalog) -> None:
    assert ids(shared, conversation_id=IdMatch(CONV_A)) == ["rec-a-agent", "rec-a-customer"]
    both = ids(shared, conversation_id=IdMatch.parse("ca3b0b…", option="--conversation-id"))
    assert both == ["rec-a-agent", "rec-a-customer", "rec-b-agent"]
    assert ids(shared, call_id=IdMatch("call-b", prefix=True)) == ["rec-b-agent"]
    assert ids(shared, recording_id=IdMatch("rec-a", prefix=True)) == ALL[:2]
    # Characters LIKE treats specially match only themselves.
    assert ids(shared, recording_id=IdMatch("rec_%", prefix=True)) == []


def test_a_shortened_id_without_a_mark_is_widened_and_says_so(shared: Catalog) -> None:
    result = shared.find(RecordingQuery(conversation_id=IdMatch("ca3b0b11")))
    assert [r.recording_id for r, _ in result.rows] == ["rec-a-agent", "rec-a-customer"]
    assert result.widened == ("conversation_id",)
    exact = shared.find(RecordingQuery(conversation_id=IdMatch(CONV_A)))
    assert exact.widened == () and exact.total == 2
    assert shared.find(RecordingQuery(conversation_id=IdMatch("ca3b0b11")), widen=False).rows == []


def test_prefix_shorter_than_four_characters_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 4 characters"):
        IdMatch.parse("ca*", option="--conversation-id")


AGENT_CASES = [
    ("hugo", ["rec-a-agent", "rec-a-customer"]),  # the first word of the name
    ("MARTIN", ["rec-a-agent", "rec-a-customer"]),  # a later word
    ("hugo martin", ["rec-a-agent", "rec-a-customer"]),
    ("Hugo.Martin@Example.com", ["rec-a-agent", "rec-a-customer"]),
    ("agent-2", ["rec-b-agent"]),
    ("zoé", ["rec-b-agent"]),
    ("ada", []),  # a customer, not an agent
    ("ugo", []),  # inside a word is not a match
]


def test_agent_by_id_identity_name_or_word(shared: Catalog) -> None:
    # One shared catalog for every case: a fresh PostgreSQL database costs about a second.
    found = {agent: ids(shared, agent=agent) for agent, _ in AGENT_CASES}
    assert found == dict(AGENT_CASES)


def test_participant_in_any_spelling_finds_the_conversation(shared: Catalog) -> None:
    spellings = ["+44 7700 900825", "0044 7700-900825", "447700900825", "tel:+447700900825"]
    for participant in [*spellings, "lovelace"]:
        assert ids(shared, participant=participant) == ["rec-a-agent", "rec-a-customer"]


def test_other_filters(shared: Catalog) -> None:
    assert ids(shared, direction="outbound") == ["rec-b-agent"]
    assert ids(shared, queue="billing") == ["rec-b-agent"]
    assert ids(shared, media_type="AUDIO_AND_VIDEO") == ["rec-b-agent"]
    assert ids(shared, source="calls") == ["rec-c"]
    assert ids(shared, status="FAILED") == ["rec-b-agent"]
    assert ids(shared, status="PENDING") == ["rec-a-agent", "rec-a-customer", "rec-c"]
    assert ids(shared, since=T0 + timedelta(seconds=1), until=T0 + timedelta(days=2)) == [
        "rec-a-customer",
        "rec-b-agent",
    ]
    assert ids(shared, agent="hugo", status="FAILED") == []


def test_sorting_and_paging(shared: Catalog) -> None:
    assert ids(shared, sort="duration", descending=True) == [
        "rec-a-customer",
        "rec-b-agent",
        "rec-c",
        "rec-a-agent",
    ]
    page = shared.find(RecordingQuery(limit=2, offset=1))
    assert [r.recording_id for r, _ in page.rows] == ALL[1:3]
    assert page.total == 4
    assert [r.recording_id for r, _ in shared.iter_found(RecordingQuery())] == ALL


def test_resolve_recording_id(shared: Catalog) -> None:
    assert shared.resolve_recording_id("rec-a-agent") == "rec-a-agent"
    assert shared.resolve_recording_id("rec-b…") == "rec-b-agent"
    with pytest.raises(ConfigError, match="more than one recording id"):
        shared.resolve_recording_id("rec-a")
    with pytest.raises(RecordingNotFound) as caught:
        shared.resolve_recording_id("nothing-like-it")
    assert caught.value.exit_code == 10


def test_audit_log_filters_and_history(shared: Catalog) -> None:
    failed = shared.audit_log(AuditQuery(event="failed"))
    assert [(e.recording_id, e.actor) for e in failed] == [("rec-b-agent", "archiver")]
    assert failed[0].detail is not None and failed[0].detail["error"] == "source answered 404"
    mine = shared.audit_log(AuditQuery(recording_id=IdMatch("rec-b", prefix=True)))
    assert [e.event for e in mine] == ["discovered", "ready", "failed"]
    assert [e.event for e in shared.history("rec-b-agent")] == ["discovered", "ready", "failed"]
    later = shared.audit_log(AuditQuery(since=T0 + timedelta(minutes=30)))
    assert [e.event for e in later] == ["failed"]
    newest = shared.audit_log(AuditQuery(limit=1, newest_first=True))
    assert newest[0].event == "failed"
    ids_in_order = [e.id or 0 for e in shared.audit_log(AuditQuery())]
    assert ids_in_order == sorted(ids_in_order)


def _words(catalog: Catalog, recording_id: str) -> list[str]:
    with catalog._engine.connect() as conn:  # the table's content is the property under test
        rows = conn.execute(
            sa.text("SELECT word FROM participant_words WHERE recording_id = :r ORDER BY word"),
            {"r": recording_id},
        )
        return [str(w) for w in rows.scalars()]


def test_name_words_go_with_the_tombstone(seeded: Catalog) -> None:
    assert _words(seeded, "rec-a-agent") == ["hugo", "martin"]
    for to in (S.READY, S.DOWNLOADED, S.UPLOADED, S.ARCHIVED):
        seeded.transition("rec-a-agent", to, actor="t", event=to.lower(), at=T0)
    seeded.record_expiry(
        "rec-a-agent",
        versions=[],
        retain_until=T0,
        reason="retention ended",
        at=T0 + timedelta(days=400),
        actor="t",
        event="archive_expired",
        certificate={},
    )
    assert _words(seeded, "rec-a-agent") == []
    assert ids(seeded, agent="martin") == []


def test_migration_0009_fills_the_words_of_names_already_there(catalog_url: str) -> None:
    if catalog_url.startswith("sqlite:///"):
        Path(catalog_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(catalog_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0006")
            conn.execute(
                sa.text(
                    "INSERT INTO recordings (recording_id, source, composed, media_type, "
                    "started_at, state, attempts, discovered_at, updated_at, participant_name) "
                    "VALUES ('old-1', 'conversations', false, 'AUDIO', :t, 'ARCHIVED', 0, :t, "
                    ":t, 'Zoé Ng-Martin')"
                ),
                {"t": T0.replace(tzinfo=None)},
            )
    finally:
        engine.dispose()
    with Catalog.open(catalog_url) as migrated:
        assert _words(migrated, "old-1") == ["martin", "ng", "zoé"]
        assert ids(migrated, agent="martin") == []  # no AGENT leg: participant only
        assert ids(migrated, participant="ZOÉ") == ["old-1"]


def test_the_total_of_an_unfiltered_search_is_kept_by_inserts(seeded: Catalog) -> None:
    # A recording listed again is not new.
    seeded.upsert_discovered([make_meta("rec-a-agent"), make_meta("rec-d")], at=T0, actor="t")
    assert seeded.find(RecordingQuery(limit=1)).total == 5 == len(ALL) + 1


def test_migration_0010_counts_the_recordings_already_there(catalog_url: str) -> None:
    if catalog_url.startswith("sqlite:///"):
        Path(catalog_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(catalog_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0009")
            for rid in ("old-1", "old-2"):
                conn.execute(
                    sa.text(
                        "INSERT INTO recordings (recording_id, source, composed, media_type, "
                        "started_at, state, attempts, discovered_at, updated_at) "
                        "VALUES (:rid, 'conversations', false, 'AUDIO', :t, 'ARCHIVED', 0, "
                        ":t, :t)"
                    ),
                    {"rid": rid, "t": T0.replace(tzinfo=None)},
                )
    finally:
        engine.dispose()
    with Catalog.open(catalog_url) as migrated:
        migrated.upsert_discovered([make_meta("rec-new")], at=T0, actor="t")
        assert migrated.find(RecordingQuery(limit=1)).total == 3
