"""The ``recvault`` command as users meet it: a child process, its stdout, stderr and exit code."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from simulator.scenario import Scenario
from tests.fixtures.archive import MakeRunEnv, RunEnv

pytestmark = [pytest.mark.integration, pytest.mark.slow]

README = Path(__file__).resolve().parents[2] / "README.md"
CONTRACT_FIELDS = {
    "recording_id",
    "conversation_id",
    "call_id",
    "media_type",
    "started_at",
    "duration_seconds",
    "status",
    "source_sha256",
    "objects",
}
OBJECT_FIELDS = {"bucket", "key", "version_id", "sha256", "size", "kind"}
SCENARIO = Scenario(seed=3, count=8, video_ratio=0.25, prep_delay_s=0.2)


def test_help_lists_every_command_and_readme_documents_them() -> None:
    result = RunEnv({}).cli("--help")
    assert result.returncode == 0
    readme = README.read_text()
    for command in ("archive", "catalog search", "verify", "doctor", "demo", "simulator serve"):
        assert f"recvault {command}" in readme
        name = command.split()[0]
        assert name in result.stdout
        sub = RunEnv({}).cli(*command.split(), "--help")
        assert sub.returncode == 0, sub.stderr
        assert "Usage" in sub.stdout


@pytest.mark.parametrize(
    ("args", "env", "code", "pattern"),
    [
        (["archive"], {}, 2, r"RECVAULT_INFOBIP_BASE_URL is not set"),
        (["archive", "--since", "2026-02-30"], {}, 2, r"--since: '2026-02-30' is not an ISO 8601"),
        (["archive", "--bogus"], {}, 2, r"No such option: --bogus"),
        (["catalog", "search", "--status", "DONE"], {}, 2, r"'DONE' is not one of"),
        (["archive"], {"RECVAULT_CONCURRENCY": "lots"}, 2, r"RECVAULT_CONCURRENCY is invalid"),
    ],
)
def test_bad_input_is_one_line_with_exit_code(
    tmp_path: Path, args: list[str], env: dict[str, str], code: int, pattern: str
) -> None:
    result = RunEnv({"RECVAULT_DATA_DIR": str(tmp_path), **env}).cli(*args)
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "path", [pytest.param("prefect", marks=pytest.mark.flow), pytest.param("in-process")]
)
def test_archive_search_verify_doctor_through_the_cli(
    path: str,
    start_simulator: Any,
    make_run_env: MakeRunEnv,
    s3_bucket: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Both ways ``recvault archive`` runs: as a Prefect flow when PREFECT_API_URL names a
    server (here the session's test harness), and in process without one."""
    extra = {}
    if path == "prefect":
        request.getfixturevalue("prefect_harness")
        from prefect.settings import PREFECT_API_URL

        extra["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    with start_simulator(SCENARIO) as sim:
        run = make_run_env(
            sim, bucket=s3_bucket, catalog_url=f"sqlite:///{tmp_path / 'catalog.db'}", **extra
        )
        since = (SCENARIO.start_at - timedelta(hours=1)).isoformat()
        archived = run.cli("archive", "--since", since, "--json")
        assert archived.returncode == 0, archived.stderr
        assert sim.api_key not in archived.stdout + archived.stderr
        # Prefect logs its flow run; the in-process run never starts Prefect.
        assert ("Flow run" in archived.stderr) == (path == "prefect"), archived.stderr[-2000:]
        summary = json.loads(archived.stdout)
        assert summary["outcomes"]["archived"] == len(sim.recordings())

        search = run.cli("catalog", "search", "--json")
        assert search.returncode == 0, search.stderr
        rows = json.loads(search.stdout)
        assert len(rows) == len(sim.recordings())
        for row in rows:
            assert set(row) >= CONTRACT_FIELDS
            assert row["status"] == "ARCHIVED"
            assert row["started_at"].endswith("Z")
            assert row["source_sha256"] == sim.media_sha256(row["recording_id"])
            kinds = {o["kind"] for o in row["objects"]}
            assert kinds == {"original", "transcoded"}
            for obj in row["objects"]:
                assert set(obj) >= OBJECT_FIELDS
                assert obj["bucket"] == s3_bucket

        conversation = rows[0]["conversation_id"]
        narrowed = json.loads(
            run.cli("catalog", "search", "--conversation-id", conversation, "--json").stdout
        )
        assert narrowed and {r["conversation_id"] for r in narrowed} == {conversation}
        assert json.loads(run.cli("catalog", "search", "--status", "FAILED", "--json").stdout) == []
        table = run.cli("catalog", "search")
        assert table.returncode == 0 and f"{len(rows)} recording(s)" in table.stdout

        verified = run.cli("verify", "--json")
        assert verified.returncode == 0, verified.stderr
        report = json.loads(verified.stdout)
        assert report["ok"] and report["objects"] == 2 * len(rows)

        doctor = run.cli("doctor", "--json")
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert json.loads(doctor.stdout)["ok"] is True
