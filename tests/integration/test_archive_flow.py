"""End to end: the archive flow against the simulator over HTTP, moto's S3 server over HTTP,
the real ffmpeg, and a catalog on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from flows.archive.flow import archive_recordings
from models.source import epoch_ms_to_datetime
from simulator.scenario import (
    ConnectionFault,
    NotReadyFault,
    RecordingPick,
    RequestFault,
    Scenario,
)
from storage.catalog.store import Catalog
from tests.fixtures.archive import MakeRunEnv
from tests.fixtures.profile import HYPOTHESIS_ENV
from tests.fixtures.s3 import MotoServer

pytestmark = [pytest.mark.integration, pytest.mark.flow, pytest.mark.slow]

SCENARIO = Scenario(
    seed=11,
    count=28,
    video_ratio=0.3,
    prep_delay_s=0.3,
    not_ready=NotReadyFault(recordings=RecordingPick(count=3), in_progress_listings=1000),
    failed=RecordingPick(count=2),
    prep_failures=RecordingPick(count=2),
    gone_after_listing=RecordingPick(count=1),
    drop=ConnectionFault(recordings=RecordingPick(count=3)),
    duplicates=RecordingPick(count=2),
    rate_limit=RequestFault(first_n=3),
)

HAPPY_EVENTS = ["discovered", "ready", "downloaded", "uploaded", "archived"]


def _versions(moto_server: MotoServer, bucket: str) -> list[tuple[str, str]]:
    client = moto_server.shared
    found = []
    # The recordings' objects; audit anchors (audit-anchors/) are added by every run.
    pages = client.get_paginator("list_object_versions").paginate(
        Bucket=bucket, Prefix="recordings/"
    )
    for page in pages:
        found += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
    return sorted(found)


def _read(moto_server: MotoServer, bucket: str, key: str, version_id: str | None) -> bytes:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        kwargs["VersionId"] = version_id
    body: bytes = moto_server.shared.get_object(**kwargs)["Body"].read()
    return body


# Two worlds: the simulator with recvault's section 9 routes, and a deployment configured to use
# them; and the strict simulator (only what Infobip publishes) with recvault's default settings.
MODES = {
    "hypotheses": (SCENARIO, HYPOTHESIS_ENV),
    "strict": (
        SCENARIO.model_copy(update={"strict": True, "video_download_preparation": True}),
        # Videos that never become downloadable look like ones still preparing: a run polls
        # them until this budget ends (prep_delay_s is 0.3 s for the ones that do).
        {"RECVAULT_PREPARE_WAIT_S": "5"},
    ),
}


def _expected(sim: Any, strict: bool) -> tuple[set[str], set[str]]:
    """(FAILED, pending) recording ids. Under the strict simulator's account switch a video
    that never becomes downloadable waits (a person decides), it never ends FAILED."""
    videos = {e["recordingId"] for e in sim.recordings() if e["mediaType"] != "AUDIO"}
    failed = set(sim.ids_with("failed"))
    never_served = set(sim.ids_with("prep_failures")) | set(sim.ids_with("gone_after_listing"))
    if strict:
        failed |= never_served - videos
        pending = (set(sim.ids_with("not_ready")) | (never_served & videos)) - failed
    else:
        failed |= never_served
        pending = set(sim.ids_with("not_ready")) - failed
    return failed, pending


@pytest.mark.parametrize("mode", sorted(MODES))
def test_archive_flow_end_to_end(
    prefect_harness: None,
    start_simulator: Any,
    make_run_env: MakeRunEnv,
    moto_server: MotoServer,
    s3_bucket: str,
    catalog_url: str,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    scenario, profile = MODES[mode]
    with start_simulator(scenario) as sim:
        make_run_env(sim, bucket=s3_bucket, catalog_url=catalog_url, **profile).apply(monkeypatch)
        since = scenario.start_at - timedelta(hours=1)
        summary = archive_recordings(since=since)

        elements = {e["recordingId"]: e for e in sim.recordings()}
        assert len(elements) >= 25
        expected_failed, expected_pending = _expected(sim, scenario.strict)
        assert len(expected_failed) >= 3 and len(expected_pending) >= 2
        expected_archived = len(elements) - len(expected_failed) - len(expected_pending)
        assert sim.count("download", 200) + sim.count("download", 206) > 0
        assert (
            sum(
                1
                for (_, status), n in sim.request_counts.items()
                if status == 429
                for _ in range(n)
            )
            >= 3
        )

        catalog = Catalog.open(catalog_url)
        try:
            rows = {row.recording_id: (row, objs) for row, objs in catalog.search()}
            assert set(rows) == set(elements), "every listed recording has exactly one row"
            states = Counter(str(row.state) for row, _ in rows.values())
            for rid, element in elements.items():
                row, objects = rows[rid]
                # Catalog fields are Infobip's.
                assert row.conversation_id == element["conversationId"]
                assert row.call_id == element["callId"]
                assert row.media_type == element["mediaType"]
                assert row.started_at == epoch_ms_to_datetime(element["startedAt"])
                assert row.participant_type == element["participantType"]
                events = [e.event for e in catalog.audit_events(rid)]
                if rid in expected_failed:
                    assert row.state == "FAILED", (rid, row.state, row.last_error)
                    assert row.last_error
                    assert objects == []
                    continue
                if rid in expected_pending:
                    assert row.state in ("DISCOVERED", "PREPARING"), (rid, row.state)
                    assert row.next_attempt_at is not None
                    assert objects == []
                    continue
                assert row.state == "ARCHIVED", (rid, row.state, row.last_error)
                assert row.source_sha256 == sim.media_sha256(rid)
                assert row.source_size_bytes == sim.media_size(rid)
                kinds = {o.kind: o for o in objects}
                assert set(kinds) == {"original", "transcoded"}
                original = kinds["original"]
                assert original.sha256 == sim.media_sha256(rid)
                assert original.size_bytes == sim.media_size(rid)
                assert original.key.endswith(
                    f"/{element['conversationId']}/{rid}/original."
                    f"{'mp4' if row.media_type != 'AUDIO' else original.key.rsplit('.', 1)[1]}"
                )
                assert original.version_id and original.verified_at is not None
                for obj in objects:
                    data = _read(moto_server, s3_bucket, obj.key, obj.version_id)
                    assert hashlib.sha256(data).hexdigest() == obj.sha256
                    assert len(data) == obj.size_bytes
                assert kinds["transcoded"].codec in {"opus", "h264+aac"}
                assert [e for e in events if e in HAPPY_EVENTS] == HAPPY_EVENTS
            assert states["ARCHIVED"] == expected_archived
            archived_media = {row.media_type for row, _ in rows.values() if row.state == "ARCHIVED"}
            assert archived_media == {"AUDIO", "AUDIO_AND_VIDEO"}
            assert catalog.verify_audit_chain() == []
        finally:
            catalog.close()
        assert summary.outcomes["archived"] == expected_archived
        if scenario.strict:
            # Videos came through the account switch: their downloads answered 404 until ready
            # (an unpublished route would have stopped the run with a ConfigError).
            assert sim.count("download", 404) > 0

        # A second run archives nothing twice: no new object versions, no new rows.
        versions_before = _versions(moto_server, s3_bucket)
        second = archive_recordings(since=since)
        assert _versions(moto_server, s3_bucket) == versions_before
        assert second.outcomes.get("archived", 0) == 0
        assert second.new == 0
        catalog = Catalog.open(catalog_url)
        try:
            assert len(catalog.search()) == len(elements)
            assert catalog.counts_by_state()["ARCHIVED"] == expected_archived
        finally:
            catalog.close()
