"""``recvault catalog search``, ``catalog show`` and ``audit log`` as an auditor meets them:
the real command (in process), its output and exit codes, on a seeded SQLite catalog."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from models.states import RecordingState
from models.tables import ArchivedObject
from recvault.cli.app import _main
from storage.catalog.store import Catalog
from tests.fixtures.db import T0, make_meta, sqlite_url

pytestmark = pytest.mark.integration
S = RecordingState
CONV = "ca3b0b11-7f2e-4d0a-9c51-1f7a3d2e8b90"
README = Path(__file__).resolve().parents[2] / "README.md"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    url = sqlite_url(tmp_path / "catalog.db")
    with Catalog.open(url) as catalog:
        catalog.upsert_discovered(
            [
                make_meta(
                    "rec-agent-0001",
                    conversationId=CONV,
                    participantType="AGENT",
                    participantName="Hugo Martin",
                    duration=30,
                ),
                make_meta(
                    "rec-customer-0002",
                    conversationId=CONV,
                    participantIdentity="447700900825",
                    duration=90,
                    started_at=T0 + timedelta(seconds=5),
                ),
                make_meta("rec-other-0003", started_at=T0 + timedelta(days=1), duration=60),
            ],
            at=T0,
            actor="seed",
        )
        for to in (S.READY, S.DOWNLOADED, S.UPLOADED):
            catalog.transition("rec-agent-0001", to, actor="archiver", event=to.lower(), at=T0)
        original = ArchivedObject(
            recording_id="rec-agent-0001",
            kind="original",
            bucket="archive",
            key="recordings/x/original.wav",
            version_id="v-1",
            size_bytes=1234,
            sha256="ab" * 32,
        )
        catalog.transition(
            "rec-agent-0001", S.ARCHIVED, actor="archiver", event="archived", at=T0,
            objects=[original], source_sha256="ab" * 32,
        )  # fmt: skip
        catalog.record_source_deletion(
            "rec-agent-0001",
            sha256="ab" * 32,
            at=T0 + timedelta(days=1),
            actor="retention@host",
            certificate={"reason": "rule agents deletes source copies", "sha256": "ab" * 32},
        )
        catalog.record_failure(
            "rec-other-0003",
            error="Infobip answered 404: the recording is gone",
            retryable=False,
            at=T0,
            actor="archiver",
            max_attempts=2,
            retry_at=None,
        )
        catalog.place_hold(
            scope_kind="conversation",
            scope_value=CONV,
            reason="customer dispute",
            case_ref="CASE-7",
            actor="auditor@host",
            at=T0 + timedelta(days=2),
        )
    monkeypatch.setenv("RECVAULT_DATABASE_URL", url)
    monkeypatch.setenv("RECVAULT_DATA_DIR", str(tmp_path / "data"))

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = _main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_search_table_json_csv_paging(cli: Run) -> None:
    code, out, _ = cli("catalog", "search")
    assert code == 0 and "3 recording(s)" in out
    assert "Infobip answered 404" in out  # a FAILED line says why

    code, out, _ = cli("catalog", "search", "--agent", "hugo", "--json")
    rows = json.loads(out)
    assert [r["recording_id"] for r in rows] == ["rec-agent-0001", "rec-customer-0002"]
    assert rows[0]["status"] == "SOURCE_DELETED" and rows[0]["objects"][0]["version_id"] == "v-1"

    code, out, _ = cli("catalog", "search", "--participant", "+44 7700 900825", "--csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["recording_id"] for r in table] == ["rec-agent-0001", "rec-customer-0002"]
    assert table[0]["original_sha256"] == "ab" * 32 and table[0]["original_version_id"] == "v-1"

    code, out, _ = cli(
        "catalog", "search", "--sort", "duration", "--desc", "--limit", "1", "--offset", "1"
    )
    assert code == 0 and "rows 2-2 of 3" in out and "rec-othe" in out

    code, out, err = cli("catalog", "search", "--conversation-id", CONV[:8], "--json")
    assert len(json.loads(out)) == 2
    assert "note: no conversation id is 'ca3b0b11'; showing those that start with it" in err
    code, out, err = cli("catalog", "search", "--conversation-id", CONV[:8] + "…", "--json")
    assert len(json.loads(out)) == 2 and err == ""


def test_show_one_recording(cli: Run) -> None:
    code, out, err = cli("catalog", "show", "rec-agent", "--json")
    assert code == 0, err
    dossier = json.loads(out)
    assert dossier["metadata"]["participant_name"] == "Hugo Martin"
    assert dossier["objects"][0]["sha256"] == "ab" * 32
    moves = [(h["event"], h["to_state"]) for h in dossier["history"]]
    assert moves[0] == ("discovered", "DISCOVERED") and moves[-1][0] == "source_deleted"
    assert [h["case"] for h in dossier["holds"]] == ["CASE-7"]
    assert any("legal holds: #" in line for line in dossier["retention"]["lines"])
    (certificate,) = dossier["certificates"]
    assert certificate["event"] == "source_deleted" and len(certificate["hash"]) == 64

    code, out, _ = cli("catalog", "show", "rec-other-0003")
    assert code == 0
    for text in (
        "recording rec-other-0003",
        "history (2 events)",
        "Infobip answered 404",
        "legal holds: none active",
        "retention:",
        "deletion certificates: none",
    ):
        assert text in out, text  # fmt: skip


def test_audit_log_reads_as_a_person_would(cli: Run) -> None:
    code, out, _ = cli("audit", "log", "--event", "failed")
    assert code == 0 and "1 audit event(s)" in out
    assert "DISCOVERED → FAILED; Infobip answered 404" in out
    code, out, _ = cli("audit", "log", "--recording-id", "rec-agent*", "--json")
    events = json.loads(out)
    assert {e["recording_id"] for e in events} == {"rec-agent-0001"}
    assert all(len(e["hash"]) == 64 for e in events)
    code, out, _ = cli("audit", "log", "--limit", "2")
    assert "--after-id" in out
    code, out, _ = cli("audit", "log", "--event", "legal_hold_placed")
    assert "case=CASE-7" in out and "customer dispute" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["catalog", "show", "nothing-like-this"], 10, "no recording has an id"),
        (["catalog", "show", "rec-"], 2, "starts more than one recording id"),
        (["catalog", "search", "--json", "--csv"], 2, "not both"),
        (["catalog", "search", "--sort", "size"], 2, "--sort: 'size' is not one of"),
        (["catalog", "search", "--conversation-id", "ca*"], 2, "at least 4 characters"),
        (["catalog", "search", "--media-type", "fax"], 2, "is not audio, video"),
        (["export", "--out", "x.zip"], 2, "name what to export"),
    ],
)
def test_bad_input_is_one_line(cli: Run, args: list[str], code: int, message: str) -> None:
    got, out, err = cli(*args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert got == code, out + err
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


def test_readme_documents_the_auditor_commands() -> None:
    readme = README.read_text()
    for command in (
        "catalog search",
        "catalog show",
        "audit log",
        "audit verify",
        "export",
        "report completeness",
    ):
        assert f"recvault {command}" in readme, command  # fmt: skip


def test_the_table_shows_a_page_and_scripts_get_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path / "many.db")
    with Catalog.open(url) as catalog:
        metas = [
            make_meta(f"rec-{n:04d}", started_at=T0 + timedelta(minutes=n)) for n in range(101)
        ]
        catalog.upsert_discovered(metas, at=T0, actor="seed")
    monkeypatch.setenv("RECVAULT_DATABASE_URL", url)
    capsys.readouterr()
    assert _main(["catalog", "search"]) == 0
    table = capsys.readouterr().out
    assert "100 recording(s)" in table and "rows 1-100 of 101" in table
    assert _main(["catalog", "search", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 101
