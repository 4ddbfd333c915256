"""upsert_discovered on SQLite and PostgreSQL: new / updated / unchanged, audit, raw, time zones."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from models.ports import SourceRecording
from models.source import datetime_to_epoch_ms
from models.states import RecordingState
from storage.catalog.store import Catalog, UpsertResult
from tests.fixtures.db import T0, make_meta

pytestmark = pytest.mark.integration


def test_new_recordings_are_discovered_with_an_audit_event(catalog: Catalog) -> None:
    result = catalog.upsert_discovered(
        [make_meta("r1"), make_meta("r2", mediaType="AUDIO_AND_VIDEO")], at=T0, actor="discover"
    )

    assert result == UpsertResult(new=2, updated=0, unchanged=0)
    row = catalog.get("r2")
    assert row.state is RecordingState.DISCOVERED
    assert (row.media_type, row.conversation_id, row.duration_s) == (
        "AUDIO_AND_VIDEO",
        "conv-r2",
        42,
    )
    assert (row.attempts, row.discovered_at, row.updated_at) == (0, T0, T0)
    events = catalog.audit_events("r2")
    assert [(e.event, e.from_state, e.to_state, e.actor) for e in events] == [
        ("discovered", None, "DISCOVERED", "discover")
    ]


def test_raw_keeps_infobip_names_and_unknown_fields(catalog: Catalog) -> None:
    catalog.upsert_discovered(
        [make_meta("r1", brandNewField={"nested": [1, 2]}, participantName="Ana")], at=T0, actor="t"
    )

    raw = catalog.get("r1").raw
    assert raw is not None
    assert raw["recordingId"] == "r1"
    assert raw["brandNewField"] == {"nested": [1, 2]}
    assert raw["participantName"] == "Ana"


def test_repeated_listing_is_unchanged_and_writes_no_event(catalog: Catalog) -> None:
    catalog.upsert_discovered([make_meta("r1")], at=T0, actor="t")

    later = T0 + timedelta(hours=1)
    result = catalog.upsert_discovered([make_meta("r1"), make_meta("r1")], at=later, actor="t")

    assert result == UpsertResult(new=0, updated=0, unchanged=2)
    assert catalog.get("r1").updated_at == T0
    assert [e.event for e in catalog.audit_events("r1")] == ["discovered"]


def test_changed_source_fields_are_refreshed_without_touching_state(catalog: Catalog) -> None:
    catalog.upsert_discovered([make_meta("r1", recordingStatus="IN_PROGRESS")], at=T0, actor="t")
    catalog.transition("r1", RecordingState.READY, actor="t", event="ready", at=T0)
    deleted = T0 + timedelta(days=2)
    later = T0 + timedelta(days=3)

    changed = make_meta(
        "r1",
        recordingStatus="SUCCESSFUL",
        duration=99,
        deletedAt=datetime_to_epoch_ms(deleted),
        deletedBy="retention-bot",
        sftpPath="/sftp/r1.wav",
        participantName="Renamed",  # not a refreshed column, but part of raw
    )
    result = catalog.upsert_discovered([changed], at=later, actor="t")

    assert result == UpsertResult(new=0, updated=1, unchanged=0)
    row = catalog.get("r1")
    assert row.state is RecordingState.READY
    assert (row.recording_status, row.duration_s, row.sftp_path) == (
        "SUCCESSFUL",
        99,
        "/sftp/r1.wav",
    )
    assert (row.source_deleted_at, row.source_deleted_by) == (deleted, "retention-bot")
    assert row.participant_name is None  # fixed at first sight
    assert row.raw is not None and row.raw["participantName"] == "Renamed"
    assert row.updated_at == later
    last = catalog.audit_events("r1")[-1]
    assert (last.event, last.from_state, last.to_state) == ("source_updated", "READY", "READY")
    assert last.detail == {
        "changed": [
            "duration_s",
            "raw",
            "recording_status",
            "sftp_path",
            "source_deleted_at",
            "source_deleted_by",
        ]
    }

    # A later listing that no longer reports the deletion does not undo it.
    catalog.upsert_discovered([make_meta("r1", recordingStatus="SUCCESSFUL")], at=later, actor="t")
    assert catalog.get("r1").source_deleted_at == deleted


def test_datetimes_come_back_aware_utc_whatever_zone_went_in(catalog: Catalog) -> None:
    plus_two = timezone(timedelta(hours=2))
    started = datetime(2025, 6, 30, 23, 59, 59, 123000, tzinfo=UTC)
    at = datetime(2025, 7, 1, 3, 0, 0, 654321, tzinfo=plus_two)
    catalog.upsert_discovered([make_meta("r1", started_at=started)], at=at, actor="t")
    retry = datetime(2025, 7, 1, 12, 0, tzinfo=plus_two)
    catalog.defer("r1", until=retry, reason="not final", at=at, actor="t")

    row = catalog.get("r1")

    for value, expected in [
        (row.started_at, started),
        (row.discovered_at, at),
        (row.next_attempt_at, retry),
        (catalog.audit_events("r1")[0].at, at),
    ]:
        assert value == expected
        assert value is not None and value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
    assert row.discovered_at.hour == 1 and row.discovered_at.microsecond == 654321


def test_naive_datetimes_are_rejected(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        catalog.upsert_discovered([make_meta("r1")], at=datetime(2025, 1, 1), actor="t")
    assert catalog.counts_by_state() == {}


def test_concurrent_upserts_of_the_same_ids_count_each_once(
    catalog_url: str, catalog: Catalog
) -> None:
    metas = [make_meta(f"r{i:03d}") for i in range(40)]
    results: list[UpsertResult] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def upsert(order: list[SourceRecording]) -> None:
        # Its own Catalog: a separate engine, so separate connections and transactions.
        with Catalog.open(catalog_url, migrate=False) as own:
            barrier.wait()
            try:
                for start in range(0, len(order), 20):
                    results.append(
                        own.upsert_discovered(order[start : start + 20], at=T0, actor="t")
                    )
            except BaseException as exc:
                errors.append(exc)

    # Opposite listing orders: rows locked in listing order would deadlock on PostgreSQL.
    orders = [metas, list(reversed(metas))]
    threads = [threading.Thread(target=upsert, args=(order,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(r.new for r in results) == 40
    assert sum(r.unchanged for r in results) == 40
    assert catalog.counts_by_state() == {"DISCOVERED": 40}
    assert len([e for e in catalog.audit_events() if e.event == "discovered"]) == 40
    assert catalog.verify_audit_chain() == []
