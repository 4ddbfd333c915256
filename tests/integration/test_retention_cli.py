"""The retention commands as users meet them: ``recvault retention|hold|erase`` in a child
process, the ``apply-retention`` flow under Prefect's test harness, real time.

The simulated calls are from January 2026 and the policy keeps them 30 days, so by the wall
clock they are all due: the dry run's plan must be exactly what the real run then does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from models.policy.rules import Policy
from recvault.cli.app import _main
from simulator.scenario import Scenario
from storage.catalog.store import Catalog
from tests.fixtures.archive import MakeRunEnv
from tests.fixtures.profile import HYPOTHESIS_ENV
from tests.fixtures.s3 import MakeStore
from tests.integration.retention_support import Clock, archive_all

pytestmark = [pytest.mark.integration, pytest.mark.flow, pytest.mark.slow]

POLICY_TOML = """
version = 1
[[rules]]
name = "outbound-10y"
match = { direction = ["OUTBOUND"] }
retention = "10y"
object_lock_mode = "GOVERNANCE"
delete_source = "never"
derivative = "none"
statutory = true

[[rules]]
name = "support-30d"
retention = "30d"
object_lock_mode = "none"
delete_source = "immediately"
derivative = "none"
"""
SCENARIO = Scenario(seed=24, count=6, video_ratio=0.0, composed_ratio=0.0)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def _in_process(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """The CLI's own entry (``recvault.cli.app._main``) in this process: the same code path as the
    child process minus two seconds of imports per call; ``retention apply`` runs in a child."""
    capsys.readouterr()
    code = _main(list(args))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def _one_line_error(result: Any, code: int, text: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and text in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_retention_hold_and_erase_through_the_cli(
    prefect_harness: None,
    start_simulator: Any,
    make_run_env: MakeRunEnv,
    make_store: MakeStore,
    s3_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prefect.settings import PREFECT_API_URL

    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(POLICY_TOML)
    catalog_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    start = SCENARIO.start_at
    with start_simulator(SCENARIO) as sim:
        with Catalog.open(catalog_url) as catalog:
            archive_all(
                sim,
                catalog=catalog,
                store=make_store(s3_bucket),
                policy=Policy.loads(POLICY_TOML),
                clock=Clock(start + timedelta(hours=3)),
                tmp_path=tmp_path,
                since=start - timedelta(hours=1),
                until=start + timedelta(hours=3),
            )
        run = make_run_env(
            sim,
            bucket=s3_bucket,
            catalog_url=catalog_url,
            RECVAULT_POLICY_FILE=str(policy_file),
            PREFECT_API_URL=str(PREFECT_API_URL.value()),
            **HYPOTHESIS_ENV,  # deletes through the simulator's section 9 DELETE route
        )
        run.apply(monkeypatch)

        def cli(*args: str) -> Result:
            return _in_process(capsys, *args)

        elements = sim.recordings()
        inbound = [e for e in elements if e["direction"] == "INBOUND"]
        outbound = [e for e in elements if e["direction"] == "OUTBOUND"]
        assert inbound and outbound
        held = inbound[0]

        placed = cli(
            "hold", "place", "--conversation-id", held["conversationId"],
            "--reason", "regulator inquiry", "--case", "REG-42", "--json",
        )  # fmt: skip
        assert placed.returncode == 0, placed.stderr
        hold = json.loads(placed.stdout)
        assert hold["case"] == "REG-42" and hold["recordings"] >= 1 and hold["versions"] >= 1
        explained = cli("retention", "explain", held["recordingId"], "--json")
        assert explained.returncode == 0, explained.stderr
        report = json.loads(explained.stdout)
        assert report["rule"] == "support-30d" and report["holds"][0]["case"] == "REG-42"
        assert report["expiry"]["action"] == "blocked"

        dry = run.cli("retention", "apply", "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        real = run.cli("retention", "apply", "--json")
        assert real.returncode == 0, real.stderr
        dry_run, real_run = json.loads(dry.stdout), json.loads(real.stdout)
        assert dry_run["dry_run"] is True and dry_run["results"] == []
        assert dry_run["plan"]["items"] == real_run["plan"]["items"]
        planned = {
            (i["recording_id"], i["action"])
            for i in dry_run["plan"]["items"]
            if i["decision"] == "delete"
        }
        done = {
            (r["recording_id"], r["action"]) for r in real_run["results"] if r["outcome"] == "done"
        }
        assert planned == done and real_run["failed"] == 0
        held_ids = {
            e["recordingId"] for e in elements if e["conversationId"] == held["conversationId"]
        }
        support = {e["recordingId"] for e in inbound} - held_ids
        assert {rid for rid, action in done if action == "expire"} == support
        assert sim.deleted == support  # delete_source immediately, except under the hold

        with Catalog.open(catalog_url) as catalog:
            states = {
                r.recording_id: (str(r.state), r.participant_identity) for r, _ in catalog.search()
            }
            assert catalog.verify_audit_chain() == []
        for rid in support:
            assert states[rid] == ("EXPIRED", None)
        for e in outbound:
            assert states[e["recordingId"]][0] == "ARCHIVED"

        erase = cli(
            "erase",
            "--participant-identity",
            outbound[0]["participantIdentity"],
            "--dry-run",
            "--json",
        )
        assert erase.returncode == 0, erase.stderr
        (item,) = json.loads(erase.stdout)["plan"]["items"]
        assert item["decision"] == "blocked" and "statutory retention" in item["reason"]

        released = cli("hold", "release", "REG-42")
        assert released.returncode == 0 and "released" in released.stdout, released.stderr
        listed = cli("hold", "list", "--all")
        assert "REG-42" in listed.stdout and "regulator inquiry" in listed.stdout, listed.stderr
        _one_line_error(cli("hold", "release", "REG-42"), 2, "no active legal hold")
        _one_line_error(
            cli("hold", "place", "--reason", "r", "--case", "c"), 2, "give exactly one of"
        )
        policy_file.write_text("version = 1\n[[rules]]\nname = 'x'\nretention = 'forever'\n")
        _one_line_error(cli("retention", "apply", "--dry-run"), 2, "retention")
