"""Bad input through the real command (``python -m recvault``): one line on stderr naming the
problem and the fix, no traceback, the README's exit code, and nothing changed in the catalog
or the archive.

The catalog and bucket under test hold a finished archive (one good run first); each bad
command runs against them (or against the broken thing it names), and afterwards their
contents, object versions and audit chain must be exactly as before.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.archive.flow import archive_recordings
from models.keys import ARCHIVE_PREFIX
from simulator.scenario import Scenario
from storage.catalog.store import Catalog
from tests.fixtures.archive import MakeRunEnv, RunEnv
from tests.fixtures.db import PgServer
from tests.fixtures.faults import object_versions, write_policy
from tests.fixtures.s3 import MakeBucket, MotoServer
from tests.fixtures.simulator import StartSimulator

pytestmark = [pytest.mark.integration, pytest.mark.flow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MIFID_POLICY = REPO / "examples" / "policy-mifid2.toml"
SCENARIO = Scenario(seed=53, count=3, video_ratio=0.0)
SINCE = (SCENARIO.start_at - timedelta(hours=1)).isoformat()
# Keep unreachable-host cases short: the retry budget is what a user would wait.
QUICK = {"RECVAULT_RETRY_BUDGET_S": "1", "RECVAULT_HTTP_TIMEOUT_S": "2"}


@dataclass(frozen=True)
class BadInput:
    name: str
    args: tuple[str, ...]
    code: int
    pattern: str  # what the one line must say (the problem, and the fix)
    env: dict[str, str] = field(default_factory=dict)


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody can write to, root included: a read-only tmpfs when mounting works."""
    path = tmp_path / "ro-work"
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        # Without mount rights: a path below a regular file cannot be created by anyone.
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("x")
        yield blocker / "work"
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _cases(
    *, missing_bucket: str, unlocked_bucket: str, read_only: Path, corrupt_db: Path, pg: PgServer
) -> list[BadInput]:
    archive = ("archive", "--since", SINCE)
    cases = [
        BadInput(
            "malformed date",
            ("archive", "--since", "2026-02-30"),
            2,
            r"--since: '2026-02-30' is not an ISO 8601 date; use e\.g\. 2026-01-31",
        ),
        BadInput(
            "window backwards",
            ("archive", "--since", "2026-02-01", "--until", "2026-01-01"),
            2,
            r"--since \(2026-02-01.*\) must be before --until",
        ),
        BadInput(
            "unknown flag",
            ("archive", "--frobnicate"),
            2,
            r"No such option: --frobnicate \(see .*recvault archive --help\)",
        ),
        BadInput(
            "unknown status",
            ("catalog", "search", "--status", "DONE"),
            2,
            r"'DONE' is not one of .*ARCHIVED",
        ),
        BadInput(
            "wrong API key",
            archive,
            3,
            r"(?i)infobip.*(401|credential|api key|login).*RECVAULT_INFOBIP_API_KEY",
            {"RECVAULT_INFOBIP_API_KEY": "not-the-key"},
        ),
        BadInput(
            "unreachable Infobip host",
            archive,
            4,
            r"(?i)infobip.*(unreachable|connect|refused).*RECVAULT_INFOBIP_BASE_URL",
            {"RECVAULT_INFOBIP_BASE_URL": f"http://127.0.0.1:{_closed_port()}", **QUICK},
        ),
        BadInput(
            "Infobip host that does not resolve",
            archive,
            4,
            r"(?i)infobip.*RECVAULT_INFOBIP_BASE_URL",
            {"RECVAULT_INFOBIP_BASE_URL": "http://infobip-typo.invalid", **QUICK},
        ),
        BadInput(
            "missing bucket",
            archive,
            5,
            rf"(?i){missing_bucket}.*(does not exist|not found|no such).*RECVAULT_S3_BUCKET",
            {"RECVAULT_S3_BUCKET": missing_bucket},
        ),
        BadInput(
            "verify against a missing bucket",
            ("verify",),
            5,
            rf"(?i){missing_bucket}.*(does not exist|not found|no such).*RECVAULT_S3_BUCKET",
            {"RECVAULT_S3_BUCKET": missing_bucket},
        ),
        BadInput(
            "bucket without Object Lock, policy requires it",
            archive,
            5,
            rf"(?i){unlocked_bucket}.*object lock",
            {"RECVAULT_S3_BUCKET": unlocked_bucket, "RECVAULT_POLICY_FILE": str(MIFID_POLICY)},
        ),
        BadInput(
            "read-only work dir",
            archive,
            5,
            r"work dir .* is not writable .*set RECVAULT_WORK_DIR to a writable folder",
            {"RECVAULT_WORK_DIR": str(read_only)},
        ),
        BadInput(
            "corrupt SQLite catalog",
            archive,
            6,
            r"(?i)not a recvault catalog|corrupt",
            {"RECVAULT_DATABASE_URL": f"sqlite:///{corrupt_db}"},
        ),
        BadInput(
            "corrupt SQLite catalog (search)",
            ("catalog", "search"),
            6,
            r"(?i)not a recvault catalog|corrupt",
            {"RECVAULT_DATABASE_URL": f"sqlite:///{corrupt_db}"},
        ),
        BadInput(
            "database URL with a typo in the scheme",
            archive,
            2,
            r"RECVAULT_DATABASE_URL is invalid: must be a SQLAlchemy URL such as sqlite:///",
            {"RECVAULT_DATABASE_URL": "postgersql+psycopg://postgres@127.0.0.1/recvault"},
        ),
        BadInput(
            "missing policy file",
            archive,
            2,
            r"cannot read the policy file.*RECVAULT_POLICY_FILE must name a readable TOML file",
            {"RECVAULT_POLICY_FILE": "/nonexistent/policy.toml"},
        ),
    ]
    if pg.url is not None:
        typo = pg.url.set(database="recvualt_typo").render_as_string(hide_password=False)
        cases.append(
            BadInput(
                "database URL with a typo in the database name",
                archive,
                2,
                r"database 'recvualt_typo' does not exist: create it or fix RECVAULT_DATABASE_URL",
                {"RECVAULT_DATABASE_URL": typo},
            )
        )
        port = pg.url.set(port=_closed_port()).render_as_string(hide_password=False)
        cases.append(
            BadInput(
                "database URL with a typo in the port",
                archive,
                6,
                r"catalog database .* is unreachable \(connection refused\)",
                {"RECVAULT_DATABASE_URL": port},
            )
        )
    return cases


def _snapshot(catalog_url: str, moto: MotoServer, bucket: str) -> dict[str, Any]:
    with Catalog.open(catalog_url) as catalog:
        rows = catalog.search()
        events = catalog.audit_events()
        return {
            "rows": sorted(
                (r.recording_id, str(r.state), r.attempts, r.updated_at.isoformat())
                for r, _ in rows
            ),
            "objects": sorted((o.key, o.version_id, o.sha256) for _, objs in rows for o in objs),
            "events": len(events),
            "last_hash": events[-1].hash if events else None,
            "lock": catalog.lock_holder("archive-run"),
            "versions": object_versions(moto, bucket, prefix=""),  # anchors too
        }


def _run_case(base: RunEnv, case: BadInput) -> tuple[BadInput, subprocess.CompletedProcess[str]]:
    env = RunEnv({**base.values, **case.env})
    return case, env.cli(*case.args, timeout=120)


def test_bad_input_is_one_line_with_its_exit_code_and_changes_nothing(
    prefect_harness: None,
    start_simulator: StartSimulator,
    make_run_env: MakeRunEnv,
    make_bucket: MakeBucket,
    moto_server: MotoServer,
    s3_bucket: str,
    pg_server: PgServer,
    read_only_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corrupt_db = tmp_path / "corrupt.db"
    corrupt_db.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 64)
    corrupt_before = hashlib.sha256(corrupt_db.read_bytes()).hexdigest()
    catalog_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    missing_bucket = "rv-test-no-such-bucket-0000"
    unlocked_bucket = make_bucket(object_lock=False)
    from prefect.settings import PREFECT_API_URL

    with start_simulator(SCENARIO) as sim:
        base = make_run_env(
            sim,
            bucket=s3_bucket,
            catalog_url=catalog_url,
            RECVAULT_POLICY_FILE=str(write_policy(tmp_path / "policy.toml")),
            # Should a bad command get as far as a flow, it must not start its own Prefect.
            PREFECT_API_URL=str(PREFECT_API_URL.value()),
        )
        base.apply(monkeypatch)
        archive_recordings(since=SCENARIO.start_at - timedelta(hours=1))
        before = _snapshot(catalog_url, moto_server, s3_bucket)
        unlocked_before = object_versions(moto_server, unlocked_bucket)
        recorded = [v for v in before["versions"] if v[0].startswith(ARCHIVE_PREFIX)]
        assert len(before["rows"]) == 3 and len(recorded) == 3

        cases = _cases(
            missing_bucket=missing_bucket,
            unlocked_bucket=unlocked_bucket,
            read_only=read_only_dir,
            corrupt_db=corrupt_db,
            pg=pg_server,
        )
        with ThreadPoolExecutor(max_workers=3) as pool:
            results = list(pool.map(lambda c: _run_case(base, c), cases))

        failures = []
        for case, result in results:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            problem = None
            if result.returncode != case.code:
                problem = f"exit {result.returncode}, expected {case.code}"
            elif "Traceback" in result.stderr or len(lines) != 1:
                problem = f"{len(lines)} lines on stderr"
            elif not lines[0].startswith("recvault: "):
                problem = "the line does not start with 'recvault: '"
            elif not re.search(case.pattern, lines[0]):
                problem = f"does not match {case.pattern!r}"
            elif sim.api_key in result.stdout + result.stderr:
                problem = "the API key was printed"
            if problem:
                failures.append(f"{case.name}: {problem}:\n{result.stderr[-1500:]}")
        assert not failures, "\n\n".join(failures)

        assert _snapshot(catalog_url, moto_server, s3_bucket) == before
        assert object_versions(moto_server, unlocked_bucket) == unlocked_before == []
        assert hashlib.sha256(corrupt_db.read_bytes()).hexdigest() == corrupt_before
        buckets = {b["Name"] for b in moto_server.shared.list_buckets()["Buckets"]}
        assert missing_bucket not in buckets
