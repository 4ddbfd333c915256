"""The archive run summary counts what needs a person's attention, and warns once per kind."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from flows.archive.common import DiscoverReport, Outcome, StepReport
from flows.archive.summary import RunSummary
from models.states import RecordingState

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def waiting(recording_id: str, attention: str | None) -> StepReport:
    return StepReport(recording_id, Outcome.WAITING, RecordingState.DISCOVERED, attention=attention)


def test_needs_attention_in_json_markdown_and_one_warning_per_kind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    summary = RunSummary(started_at=T0, finished_at=T0)
    discovery = DiscoverReport(
        listed=3,
        new=3,
        updated=0,
        since=T0,
        until=T0,
        attention={"metadata id is not an integer": 2},
    )
    with caplog.at_level(logging.WARNING, logger="flows.archive.summary"):
        summary.add_discovery(discovery)
        summary.add(waiting("r1", "unknown recordingStatus"))
        summary.add(waiting("r2", "unknown recordingStatus"))
        summary.add(waiting("r3", None))
    assert summary.needs_attention == {
        "metadata id is not an integer": 2,
        "unknown recordingStatus": 2,
    }
    data = json.loads(json.dumps(summary.as_dict()))
    assert data["needs_attention"] == {
        "metadata id is not an integer": 2,
        "unknown recordingStatus": 2,
    }
    assert data["outcomes"] == {"waiting": 3}
    markdown = summary.to_markdown()
    assert "| needs attention | recordings |" in markdown
    assert "| unknown recordingStatus | 2 |" in markdown
    warnings = [r.getMessage() for r in caplog.records if "needs attention" in r.getMessage()]
    assert len(warnings) == 2


def test_a_clean_run_has_nothing_needing_attention() -> None:
    summary = RunSummary(started_at=T0, finished_at=T0)
    assert summary.as_dict()["needs_attention"] == {}
    assert "needs attention" not in summary.to_markdown()
