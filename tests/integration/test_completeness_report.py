"""``recvault report completeness``: the reconciliation's figures for a period, per day, as a
printable report (simulator over HTTP, moto's S3 server, SQLite; the command in process)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from recvault.cli.app import _main
from simulator.scenario import Scenario
from tests.fixtures.archive import MakeRunEnv

pytestmark = [pytest.mark.integration]

# Six legs in conversations sixteen hours apart: recordings on several days.
SCENARIO = Scenario(seed=43, count=6, spacing_s=16 * 3600, video_ratio=0.0)
SINCE = SCENARIO.start - timedelta(hours=1)
UNTIL = SCENARIO.start + timedelta(days=4)


def test_completeness_per_day_then_complete(
    start_simulator: Any,
    make_bucket: Any,
    make_run_env: MakeRunEnv,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = make_bucket(object_lock=False)
    window = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]

    def cli(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = _main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    with start_simulator(SCENARIO) as sim:
        env = make_run_env(sim, bucket=bucket, catalog_url=f"sqlite:///{tmp_path / 'c.db'}")
        env.apply(monkeypatch)
        cut = (SCENARIO.start + timedelta(days=1)).date().isoformat()  # a midnight
        code, _, err = cli("archive", "--since", SINCE.isoformat(), "--until", cut, "--json")
        assert code == 0, err

        page = tmp_path / "report.html"
        code, out, err = cli("report", "completeness", *window, "--json", "--out", str(page))
        assert code == 8, err
        report = json.loads(out)
        assert report["complete"] is False and report["conclusion"].startswith("Incomplete")
        totals = report["totals"]
        assert totals["listed"] == SCENARIO.count
        assert totals["held"] + totals["missing"] == SCENARIO.count
        assert totals["missing"] > 0 and totals["held"] > 0
        for day in report["days"]:
            before_cut = day["day"] < cut
            assert day["missing"] == (0 if before_cut else day["listed"]), day
            assert day["held"] == (day["listed"] if before_cut else 0), day
        assert sorted(report["missing_ids"]) == report["missing_ids"]
        assert report["audit_chain_head"]["id"] > 0
        printable = page.read_text()
        assert printable.startswith("<!doctype html>") and "Incomplete:" in printable
        assert printable.count("<tr><td>") == len(report["days"]) + 1  # days and the total

        code, _, err = cli("archive", *window, "--json")
        assert code == 0, err
        code, out, err = cli("report", "completeness", *window)
        assert code == 0, err
        assert "**Complete: every recording Infobip lists" in out
        assert f"| total | {SCENARIO.count} | {SCENARIO.count} | {SCENARIO.count} | 0 |" in out
        assert sim.api_key not in out + err
