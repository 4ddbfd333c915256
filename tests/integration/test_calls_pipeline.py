"""The Calls API as a second source, through the same pipeline as the Conversations one:
archive, verify, retention (source deletion confirmed at the Calls API), legal holds and
erasure, all through the CLI (simulator over HTTP, moto's S3 server, SQLite)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from simulator.scenario import CallsScenario, Scenario
from storage.catalog.store import Catalog
from tests.fixtures.archive import MakeRunEnv

pytestmark = [pytest.mark.integration]

SCENARIO = Scenario(
    seed=51, count=4, video_ratio=0.0, calls=CallsScenario(count=6, video_ratio=0.0)
)
POLICY = """
version = 1

[[rules]]
name = "delete-at-once"
retention = "1y"
delete_source = "immediately"
"""


def test_calls_recordings_go_through_archive_verify_retention_hold_and_erasure(
    start_simulator: Any, make_bucket: Any, make_run_env: MakeRunEnv, tmp_path: Path
) -> None:
    catalog_url = f"sqlite:///{tmp_path / 'c.db'}"
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    with start_simulator(SCENARIO) as sim:
        env = make_run_env(
            sim,
            bucket=make_bucket(object_lock=True),
            catalog_url=catalog_url,
            RECVAULT_SOURCES="conversations,calls",
            RECVAULT_POLICY_FILE=str(policy),
            RECVAULT_SOURCE_DELETION="calls-files",  # the documented Calls API file deletion
        )
        since = (SCENARIO.start - timedelta(days=1)).isoformat()
        until = (SCENARIO.start + timedelta(days=3)).isoformat()
        archived = env.cli("archive", "--since", since, "--until", until)
        assert archived.returncode == 0, archived.stderr

        calls_files = {f["id"] for f in sim.calls.files()}
        with Catalog.open(catalog_url, migrate=False) as catalog:
            rows = {row.recording_id: row for row, _ in catalog.search()}
        by_source = {rid: row.source for rid, row in rows.items()}
        assert {rid for rid, source in by_source.items() if source == "calls"} == calls_files
        assert all(row.state == "ARCHIVED" for row in rows.values()), {
            rid: (row.state, row.last_error) for rid, row in rows.items()
        }
        for rid in calls_files:
            assert rows[rid].source_sha256 == sim.calls.media_sha256(rid)

        verify = env.cli("verify", "--json")
        assert verify.returncode == 0, verify.stdout + verify.stderr

        # A hold on one call keeps its files at the Calls API; the rest are deleted there.
        held_call = next(rows[rid].call_id for rid in sorted(calls_files) if rows[rid].call_id)
        assert held_call
        hold = env.cli("hold", "place", "--call-id", held_call, "--reason", "r", "--case", "C-1")
        assert hold.returncode == 0, hold.stderr
        held = {rid for rid in calls_files if rows[rid].call_id == held_call}

        applied = env.cli("retention", "apply", "--json")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert sim.calls.deleted_files == calls_files - held
        with Catalog.open(catalog_url, migrate=False) as catalog:
            for rid in calls_files - held:
                assert catalog.get(rid).state == "SOURCE_DELETED"
                (cert,) = [e for e in catalog.audit_events(rid) if e.event == "source_deleted"]
                assert "confirmed" in (cert.detail or {})["outcome"]
            for rid in held:
                assert catalog.get(rid).state == "ARCHIVED"
            # Conversations recordings that map to no Calls file stay, reported as due.
            conversations = {rid for rid, source in by_source.items() if source != "calls"}
            for rid in conversations:
                assert catalog.get(rid).state == "ARCHIVED"
        due = {r["recording_id"]: r for r in json.loads(applied.stdout)["results"]}
        for rid in conversations:
            assert due[rid]["outcome"] == "due", due[rid]
            assert "no Calls API file maps to it" in due[rid]["detail"]

        # Erasure of the held participant is refused for the held files, with the reason.
        identity = rows[next(iter(held))].participant_identity
        assert identity
        erase = env.cli("erase", "--participant-identity", identity, "--dry-run", "--json")
        assert erase.returncode == 0, erase.stderr
        plan = json.loads(erase.stdout)["plan"]["items"]
        assert any("hold" in item["reason"] for item in plan if item["recording_id"] in held)
