"""recvault's default profile against the strict simulator (only what Infobip publishes), through
the real ``recvault`` command in a child process, as an operator meets it:

- ``archive`` gets audio and video (video through the account switch, no trigger sent);
- a deletion route that the account does not have (``RECVAULT_SOURCE_DELETION=ccaas`` with a
  path the strict simulator answers with a plain 404) stops ``retention apply`` with one line
  and exit 2, and nothing is recorded as deleted or failed;
- ``retention apply`` with source deletion ``off`` (the default) reports every due source
  deletion as ``due``, exits 0, and archive expiry still works;
- ``doctor`` shows the account section and the profile.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.settings import DELETE_PATH_EXAMPLE
from simulator.scenario import Scenario
from storage.catalog.store import Catalog
from tests.fixtures.archive import MakeRunEnv

pytestmark = [pytest.mark.integration]

POLICY_TOML = """
version = 1
[[rules]]
name = "support-30d"
retention = "30d"
object_lock_mode = "none"
delete_source = "immediately"
derivative = "none"
"""
SCENARIO = Scenario(
    seed=31,
    count=8,
    video_ratio=0.5,
    composed_ratio=0.0,
    strict=True,
    video_download_preparation=False,  # switched on by the test, after a first run
    prep_delay_s=0.5,
)


CONFIG_PATH = "/ccaas/voice/2/account-recording-config"


def _auth(sim: Any) -> dict[str, str]:
    return {"Authorization": f"App {sim.api_key}"}


def _flags(config: dict[str, Any]) -> dict[str, Any]:
    keys = ("inbound", "outbound", "autoCompose", "mediaType", "enabled")
    return {k: config[k] for k in keys if k in config}


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_default_profile_against_the_strict_simulator(
    start_simulator: Any,
    make_run_env: MakeRunEnv,
    s3_bucket: str,
    tmp_path: Path,
    report: Any,
) -> None:
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(POLICY_TOML)
    catalog_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    start = SCENARIO.start_at
    with start_simulator(SCENARIO) as sim:
        run = make_run_env(
            sim,
            bucket=s3_bucket,
            catalog_url=catalog_url,
            RECVAULT_POLICY_FILE=str(policy_file),
            RECVAULT_NOT_READY_RETRY_S="1",  # look again soon after the switch is on
            RECVAULT_PREPARE_WAIT_S="0",
        )
        elements = {e["recordingId"]: e for e in sim.recordings()}
        assert {e["mediaType"] for e in elements.values()} == {"AUDIO", "AUDIO_AND_VIDEO"}

        # Audio and video archived with the default settings. While the account switch is off,
        # a video's download answers Infobip's 404: the video waits, nothing fails.
        since, until = (start - timedelta(hours=1)).isoformat(), (start + timedelta(days=1))
        window = ("--since", since, "--until", until.isoformat(), "--json")
        first = run.cli("archive", *window)
        assert first.returncode == 0, first.stderr
        first_summary = json.loads(first.stdout)
        waiting = first_summary["catalog"]
        videos = sum(e["mediaType"] == "AUDIO_AND_VIDEO" for e in elements.values())
        assert waiting.get("ARCHIVED") == len(elements) - videos
        assert "FAILED" not in waiting
        assert sim.count("download", 404) >= videos
        attention = first_summary["needs_attention"]
        report(f"strict archive, switch off: catalog={waiting} needs_attention={attention}")
        assert sum(attention.values()) == videos, attention

        config = httpx.get(f"{sim.base_url}{CONFIG_PATH}", headers=_auth(sim)).json()
        switched = httpx.put(
            f"{sim.base_url}{CONFIG_PATH}",
            headers=_auth(sim),
            json={**_flags(config), "videoDownloadPreparation": True},
        )
        assert switched.status_code == 200, switched.text
        time.sleep(SCENARIO.prep_delay_s + 1.5)
        archived = run.cli("archive", *window)
        assert archived.returncode == 0, archived.stderr
        summary = json.loads(archived.stdout)
        outcomes, catalog_states = summary["outcomes"], summary["catalog"]
        report(f"strict archive, switch on: outcomes={outcomes} catalog={catalog_states}")
        assert summary["catalog"] == {"ARCHIVED": len(elements)}
        assert summary["needs_attention"] == {}
        assert sim.count("prepare") == 0  # no trigger route exists in strict mode
        with Catalog.open(catalog_url) as catalog:
            media = {r.media_type for r, _ in catalog.search() if r.state == "ARCHIVED"}
        assert media == {"AUDIO", "AUDIO_AND_VIDEO"}

        # A deletion route the account does not have: one line, exit 2, nothing recorded.
        wrong = run.cli(
            "retention",
            "apply",
            env_extra={
                "RECVAULT_SOURCE_DELETION": "ccaas",
                "RECVAULT_INFOBIP_DELETE_PATH": DELETE_PATH_EXAMPLE,
            },
        )
        line = _one_line(wrong.stderr)
        report(f"misconfigured deletion route: exit {wrong.returncode}: {line}")
        assert wrong.returncode == 2
        assert "HTTP 404 without an Infobip error body" in line
        assert "RECVAULT_INFOBIP_DELETE_PATH" in line
        assert sim.deleted == set()
        with Catalog.open(catalog_url) as catalog:
            assert catalog.counts_by_state() == {"ARCHIVED": len(elements)}
            for rid in elements:
                events = {e.event for e in catalog.audit_events(rid)}
                assert not events & {"source_deleted", "source_deletion_refused"}
            assert all(r.attempts == 0 for r, _ in catalog.search())

        # Source deletion off (the default): every due source deletion reported, exit 0, and
        # the archives past their retention still expire.
        applied = run.cli("retention", "apply", "--json")
        assert applied.returncode == 0, applied.stderr
        result = json.loads(applied.stdout)
        due = [i for i in result["plan"]["items"] if i["action"] == "delete_source"]
        assert {i["recording_id"] for i in due} == set(elements)
        assert {i["decision"] for i in due} == {"due"}
        assert due[0]["reason"].startswith("due, source deletion is off")
        assert result["due"] == len(elements) and result["failed"] == 0
        assert result["done"] == len(elements)  # every expiry
        report(f"retention with deletion off: due={result['due']} done={result['done']}")
        assert sim.deleted == set()
        text = run.cli("retention", "apply", "--dry-run")
        assert text.returncode == 0, text.stderr

        # doctor's account section and the profile.
        doctor = run.cli("doctor", "--json")
        checks = {c["check"]: c for c in json.loads(doctor.stdout)["checks"]}
        assert checks["infobip account"]["state"] == "ok"
        assert checks["infobip video download"]["state"] == "ok"
        assert "videoDownloadPreparation=True" in checks["infobip video download"]["value"]
        for route in ("metadata", "download", "account_config"):
            assert checks[f"infobip route {route}"]["state"] == "ok", checks
        assert json.loads(doctor.stdout)["profile"]["source_deletion"] == "off"
        misconfigured = run.cli(
            "doctor",
            "--json",
            env_extra={
                "RECVAULT_SOURCE_DELETION": "ccaas",
                "RECVAULT_INFOBIP_DELETE_PATH": DELETE_PATH_EXAMPLE,
            },
        )
        checks = {c["check"]: c for c in json.loads(misconfigured.stdout)["checks"]}
        assert checks["infobip route delete"]["state"] == "fail"
        assert "not confirmed" in checks["infobip route delete"]["value"]


def test_a_wrong_download_path_stops_the_archive_run_and_fails_nothing(
    start_simulator: Any, make_run_env: MakeRunEnv, s3_bucket: str, tmp_path: Path
) -> None:
    scenario = SCENARIO.model_copy(update={"count": 3, "video_ratio": 0.0})
    catalog_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    with start_simulator(scenario) as sim:
        run = make_run_env(
            sim,
            bucket=s3_bucket,
            catalog_url=catalog_url,
            RECVAULT_INFOBIP_DOWNLOAD_PATH="/ccaas/voice/2/recording/fetch/{recording_id}",
        )
        since = (scenario.start_at - timedelta(hours=1)).isoformat()
        result = run.cli("archive", "--since", since)
    line = _one_line(result.stderr)
    assert result.returncode == 2, result.stderr
    assert "HTTP 404 without an Infobip error body" in line
    assert "RECVAULT_INFOBIP_DOWNLOAD_PATH" in line
    with Catalog.open(catalog_url) as catalog:
        rows = [r for r, _ in catalog.search()]
    assert rows and all(r.state in ("DISCOVERED", "READY") for r in rows)
    assert all(r.attempts == 0 and r.last_error is None for r in rows)
