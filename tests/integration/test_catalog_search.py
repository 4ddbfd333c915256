"""search / counts on SQLite and PostgreSQL: each filter, ordering, objects in one query."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from models.errors import ConfigError
from models.states import RecordingState
from models.tables import ArchivedObject, Recording
from storage.catalog.store import Catalog
from tests.fixtures.db import T0, make_meta

pytestmark = pytest.mark.integration
S = RecordingState


@pytest.fixture
def seeded(catalog: Catalog) -> Catalog:
    """Two conversations; c1 has an agent leg (Ana Silva), c2 another agent (Bo)."""
    metas = [
        make_meta(
            "c1-agent",
            conversationId="c1",
            callId="k1",
            participantType="AGENT",
            participantId="agent-7",
            participantIdentity="ana@example.com",
            participantName="Ana Silva",
            started_at=T0,
        ),
        make_meta(
            "c1-customer",
            conversationId="c1",
            callId="k2",
            participantType="CUSTOMER",
            participantName="Bo",
            started_at=T0 + timedelta(minutes=1),
        ),
        make_meta(
            "c2-agent",
            conversationId="c2",
            callId="k3",
            participantType="AGENT",
            participantId="agent-9",
            participantName="Bo",
            started_at=T0 + timedelta(days=1),
        ),
        make_meta(
            "c3-customer",
            conversationId="c3",
            callId="k4",
            participantType="CUSTOMER",
            participantIdentity="ana@example.com",
            started_at=T0 + timedelta(days=2),
        ),
    ]
    catalog.upsert_discovered(metas, at=T0, actor="t")
    for to in (S.READY, S.DOWNLOADED, S.UPLOADED):
        catalog.transition("c1-agent", to, actor="t", event=to.lower(), at=T0)
    catalog.transition(
        "c1-agent",
        S.ARCHIVED,
        actor="t",
        event="archived",
        at=T0,
        objects=[
            ArchivedObject(
                recording_id="c1-agent",
                kind="original",
                bucket="b",
                key="k/original.wav",
                size_bytes=10,
                sha256="a" * 64,
            ),
            ArchivedObject(
                recording_id="c1-agent",
                kind="transcoded",
                bucket="b",
                key="k/t.opus",
                size_bytes=5,
                sha256="b" * 64,
            ),
        ],
    )
    catalog.transition("c3-customer", S.FAILED, actor="t", event="failed", at=T0)
    return catalog


def _ids(rows: list[tuple[Recording, list[ArchivedObject]]]) -> list[str]:
    return [row.recording_id for row, _ in rows]


def test_no_filter_returns_everything_in_start_order(seeded: Catalog) -> None:
    assert _ids(seeded.search()) == ["c1-agent", "c1-customer", "c2-agent", "c3-customer"]
    assert _ids(seeded.search(limit=2)) == ["c1-agent", "c1-customer"]


def test_filters_by_ids(seeded: Catalog) -> None:
    assert _ids(seeded.search(conversation_id="c1")) == ["c1-agent", "c1-customer"]
    assert _ids(seeded.search(call_id="k3")) == ["c2-agent"]
    assert _ids(seeded.search(recording_id="c1-customer")) == ["c1-customer"]
    assert seeded.search(conversation_id="nope") == []


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("agent-7", ["c1-agent", "c1-customer"]),
        ("ANA@example.com", ["c1-agent", "c1-customer"]),  # not c3: ana is a customer there
        ("ana silva", ["c1-agent", "c1-customer"]),
        ("bo", ["c2-agent"]),  # Bo is only an AGENT in c2
        ("nobody", []),
    ],
)
def test_agent_matches_conversations_with_that_agent_leg(
    seeded: Catalog, agent: str, expected: list[str]
) -> None:
    assert _ids(seeded.search(agent=agent)) == expected


def test_since_inclusive_until_exclusive(seeded: Catalog) -> None:
    assert _ids(seeded.search(since=T0 + timedelta(minutes=1))) == [
        "c1-customer",
        "c2-agent",
        "c3-customer",
    ]
    assert _ids(seeded.search(until=T0 + timedelta(minutes=1))) == ["c1-agent"]
    window = seeded.search(since=T0 + timedelta(hours=1), until=T0 + timedelta(days=2))
    assert _ids(window) == ["c2-agent"]


def test_status_uses_the_public_statuses(seeded: Catalog) -> None:
    seeded.transition("c2-agent", S.READY, actor="t", event="ready", at=T0)
    assert _ids(seeded.search(status="PENDING")) == ["c1-customer", "c2-agent"]
    assert _ids(seeded.search(status="archived")) == ["c1-agent"]
    assert _ids(seeded.search(status="FAILED")) == ["c3-customer"]
    assert seeded.search(status="EXPIRED") == []
    assert _ids(seeded.search(status="PENDING", conversation_id="c1")) == ["c1-customer"]
    with pytest.raises(ConfigError, match="unknown status 'DONE'"):
        seeded.search(status="DONE")


def test_objects_come_with_their_recordings(seeded: Catalog) -> None:
    by_id = {row.recording_id: objects for row, objects in seeded.search(conversation_id="c1")}
    assert [(o.kind, o.key) for o in by_id["c1-agent"]] == [
        ("original", "k/original.wav"),
        ("transcoded", "k/t.opus"),
    ]
    assert by_id["c1-customer"] == []


def test_search_runs_two_queries_whatever_the_number_of_rows(seeded: Catalog) -> None:
    statements: list[str] = []
    engine = seeded._engine  # the statement count is the property under test

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert len(seeded.search()) == 4
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 2


def test_counts_by_state(seeded: Catalog) -> None:
    assert seeded.counts_by_state() == {"ARCHIVED": 1, "DISCOVERED": 2, "FAILED": 1}


def test_next_due_at_and_last_window_end(seeded: Catalog) -> None:
    assert seeded.next_due_at() is None
    assert seeded.last_window_end() is None
    due = T0 + timedelta(minutes=30)
    seeded.defer("c1-customer", until=due + timedelta(hours=1), reason="x", at=T0, actor="t")
    seeded.defer("c2-agent", until=due, reason="x", at=T0, actor="t")
    assert seeded.next_due_at() == due

    end = T0 + timedelta(hours=3)
    seeded.append_audit(
        event="run_finished",
        actor="run",
        at=T0,
        detail={"window_start": T0.isoformat(), "window_end": end.isoformat()},
    )
    seeded.append_audit(
        event="run_finished",
        actor="run",
        at=T0,
        recording_id="c1-agent",
        detail={"window_end": (end + timedelta(days=9)).isoformat()},
    )
    assert seeded.last_window_end() == end
