"""``recvault export`` on a real archive (simulator over HTTP, moto's S3 server, SQLite, real
ffmpeg for the derivatives): the bundle unzips with the real ``unzip``, the real
``sha256sum -c`` accepts its manifest, the README's own hash check recomputes every audit
event, the export is an anchored audit event, and bytes that differ from the catalog stop the
export with one line and no bundle."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from models.policy.rules import Policy
from recvault.cli.app import _main
from simulator.scenario import Scenario
from storage.catalog.store import Catalog
from tests.fixtures.db import sqlite_url
from tests.fixtures.s3 import AWS_TEST_ENV, MakeStore, MotoServer
from tests.integration.retention_support import Clock, archive_all

pytestmark = pytest.mark.integration

POLICY = Policy.loads(
    """
version = 1
[[rules]]
name = "all"
retention = "30d"
object_lock_mode = "none"
delete_source = "never"
derivative = "auto"
"""
)
SCENARIO = Scenario(seed=21, count=6, video_ratio=0.0, composed_ratio=0.0)


@pytest.fixture
def archive(
    start_simulator: Any,
    make_store: MakeStore,
    s3_bucket: str,
    moto_server: MotoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A small real archive; the environment points the CLI at it. Returns the catalog file."""
    start = SCENARIO.start_at
    db_path = tmp_path / "catalog.db"
    store = make_store(s3_bucket)
    with start_simulator(SCENARIO) as sim, Catalog.open(sqlite_url(db_path)) as catalog:
        archived = archive_all(
            sim,
            catalog=catalog,
            store=store,
            policy=POLICY,
            clock=Clock(start + timedelta(hours=3)),
            tmp_path=tmp_path,
            since=start - timedelta(hours=1),
            until=start + timedelta(hours=3),
        )
    assert archived == SCENARIO.count
    env = {
        **AWS_TEST_ENV,
        "RECVAULT_S3_BUCKET": s3_bucket,
        "RECVAULT_S3_ENDPOINT_URL": moto_server.endpoint_url,
        "RECVAULT_DATABASE_URL": sqlite_url(db_path),
        "RECVAULT_DATA_DIR": str(tmp_path / "data"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return db_path


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = _main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_export_of_a_conversation_verifies_with_sha256sum(
    archive: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    report: Callable[[str], None],
) -> None:
    code, out, err = _cli(capsys, "catalog", "search", "--json")
    assert code == 0, err
    rows = json.loads(out)
    conversation = rows[0]["conversation_id"]
    legs = [r for r in rows if r["conversation_id"] == conversation]

    bundle = tmp_path / "bundle.zip"
    code, out, err = _cli(
        capsys, "export", "--conversation-id", conversation, "--out", str(bundle), "--json"
    )
    assert code == 0, err
    exported_report = json.loads(out)
    assert exported_report["recordings"] == len(legs)
    assert exported_report["files"] == sum(len(r["objects"]) for r in legs) > 0

    unpacked = tmp_path / "unpacked"
    subprocess.run(["unzip", "-q", str(bundle), "-d", str(unpacked)], check=True)
    checked = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"],
        cwd=unpacked,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert lines and all(line.endswith(": OK") for line in lines)
    report(f"export of {len(legs)} recording(s) verified by sha256sum -c:")
    for line in lines:
        report(line)
    names = {line.removesuffix(": OK") for line in lines}
    assert {"catalog/recordings.json", "audit/events.jsonl", "audit/anchor.json"} <= names
    assert "README.txt" in names and "export.json" in names

    # The originals are the bytes Infobip served: their hash is the catalog's source hash.
    for leg in legs:
        original = next(unpacked.glob(f"recordings/{leg['recording_id']}/original.*"))
        assert hashlib.sha256(original.read_bytes()).hexdigest() == leg["source_sha256"]

    # The audit events: every one of these recordings' events, each hash recomputed by the
    # README's own snippet, all covered by the anchor in the bundle.
    events = [
        json.loads(line) for line in (unpacked / "audit/events.jsonl").read_text().splitlines()
    ]
    assert {e["recording_id"] for e in events} == {leg["recording_id"] for leg in legs}
    anchor = json.loads((unpacked / "audit/anchor.json").read_text())
    assert anchor["sequence"] >= max(e["id"] for e in events)
    readme = (unpacked / "README.txt").read_text()
    snippet = re.search(r"\(Python 3\):\n\n(.*?)\n\n", readme, re.S)
    assert snippet is not None
    code_text = "\n".join(line[4:] for line in snippet.group(1).splitlines())
    ran = subprocess.run(
        [sys.executable, "-c", code_text], cwd=unpacked, capture_output=True, text=True, check=True
    )
    assert ran.stdout.count(" OK") == len(events) and "MISMATCH" not in ran.stdout

    # The export is on the record, with the manifest's hash, and anchored.
    code, out, err = _cli(capsys, "audit", "log", "--event", "evidence_exported", "--json")
    assert code == 0, err
    (exported,) = json.loads(out)
    manifest = hashlib.sha256((unpacked / "SHA256SUMS").read_bytes()).hexdigest()
    assert exported["detail"]["manifest_sha256"] == manifest == exported_report["manifest_sha256"]
    assert exported["detail"]["filters"] == {"conversation_id": conversation}
    code, out, err = _cli(capsys, "audit", "verify", "--json")
    assert code == 0, out + err
    assert json.loads(out)["last_anchored_id"] == exported["id"]


def test_bytes_that_differ_from_the_catalog_stop_the_export(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(archive) as db:
        (rid,) = db.execute("SELECT min(recording_id) FROM archived_objects").fetchone()
        db.execute("UPDATE archived_objects SET sha256 = ? WHERE recording_id = ?", ("0" * 64, rid))
    db.close()
    bundle = tmp_path / "bad.zip"
    code, out, err = _cli(capsys, "export", "--recording-id", rid, "--out", str(bundle))
    assert code == 5, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "the catalog records" in lines[0], err
    assert not bundle.exists()
    assert list(tmp_path.glob("*.part")) == [] and list(tmp_path.glob(".*.part")) == []
    code, out, _ = _cli(capsys, "audit", "log", "--event", "evidence_exported", "--json")
    assert json.loads(out) == []


def test_export_refuses_an_existing_file_and_an_empty_selection(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken.zip"
    taken.write_bytes(b"keep me")
    code, _, err = _cli(capsys, "export", "--since", "2000-01-01", "--out", str(taken))
    assert code == 2 and "exists already" in err
    assert taken.read_bytes() == b"keep me"
    code, _, err = _cli(
        capsys,
        "export",
        "--conversation-id",
        "no-such-conversation",
        "--out",
        str(tmp_path / "x.zip"),
    )
    assert code == 10 and "nothing to export" in err
    assert zipfile.is_zipfile(taken) is False
