"""Pure catalog helpers: metadata to columns, refresh rules, field checks, public statuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.errors import ConfigError
from models.source import datetime_to_epoch_ms
from models.states import IN_PROGRESS, RecordingState, public_status
from models.tables import Recording
from storage.catalog.rows import (
    LAST_ERROR_MAX,
    PUBLIC_STATUSES,
    check_fields,
    new_row_values,
    refreshed_changes,
    source_values,
    states_for_status,
    truncate_error,
)
from tests.fixtures.db import T0, make_meta


def test_source_values_map_every_column_and_keep_raw() -> None:
    deleted = T0 + timedelta(days=1)
    meta = make_meta(
        "r1",
        deletedAt=datetime_to_epoch_ms(deleted),
        deletedBy="ops",
        somethingNew="kept",
        transferredToQueue="q2",
    )

    values = source_values(meta)

    assert values["started_at"] == T0
    assert values["started_at"].tzinfo is UTC
    assert (values["source_deleted_at"], values["source_deleted_by"]) == (deleted, "ops")
    assert values["duration_s"] == 42
    assert values["transferred_to_queue"] == "q2"
    assert values["raw"]["somethingNew"] == "kept"
    assert values["raw"]["recordingId"] == "r1"
    assert set(values) <= set(Recording.__table__.columns.keys())  # type: ignore[attr-defined]


def test_new_rows_start_discovered_at_the_given_time() -> None:
    values = new_row_values(make_meta("r1"), at=T0)
    assert (values["state"], values["attempts"], values["discovered_at"], values["updated_at"]) == (
        "DISCOVERED",
        0,
        T0,
        T0,
    )


def _row(**fields: object) -> Recording:
    values = {**source_values(make_meta("r1")), **fields}
    return Recording(**values)


def test_refresh_reports_only_changed_refreshable_fields() -> None:
    row = _row()
    assert refreshed_changes(row, source_values(make_meta("r1"))) == {}

    fresh = source_values(make_meta("r1", duration=7, participantName="changed"))
    changes = refreshed_changes(row, fresh)

    assert set(changes) == {"duration_s", "raw"}  # participant_name itself is never refreshed
    assert changes["duration_s"] == 7


def test_refresh_never_forgets_a_source_deletion() -> None:
    deleted = datetime(2025, 1, 2, tzinfo=UTC)
    row = _row(source_deleted_at=deleted, source_deleted_by="ops")
    fresh = source_values(make_meta("r1"))
    fresh["raw"] = row.raw
    assert refreshed_changes(row, fresh) == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"bogus": 1}, "unknown recording field"),
        ({"state": "READY"}, "set by the catalog itself"),
        ({"updated_at": T0}, "set by the catalog itself"),
    ],
)
def test_check_fields_rejects_unknown_and_reserved(fields: dict[str, object], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        check_fields(fields)


def test_check_fields_rejects_naive_datetimes() -> None:
    check_fields({"archived_at": T0, "source_sha256": "a" * 64})
    with pytest.raises(ValueError, match="archived_at must be timezone-aware"):
        check_fields({"archived_at": datetime(2025, 1, 1)})


@pytest.mark.parametrize("status", PUBLIC_STATUSES)
def test_every_public_status_maps_back_to_its_states(status: str) -> None:
    states = states_for_status(status.lower())
    assert states
    assert {public_status(s) for s in states} == {status}


def test_pending_is_every_in_progress_state() -> None:
    assert states_for_status("PENDING") == IN_PROGRESS
    assert RecordingState.DISCOVERED in states_for_status(" pending ")


def test_unknown_status_is_a_config_error_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="use one of ARCHIVED, PENDING"):
        states_for_status("READY")


def test_truncate_error() -> None:
    assert truncate_error("short") == "short"
    long = truncate_error("x" * 5000)
    assert len(long) == LAST_ERROR_MAX
    assert long.endswith("…")
