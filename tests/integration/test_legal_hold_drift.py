"""An S3 legal hold switched OFF outside recvault on a held version (issue 9, finding 4): the
CLI's ``verify --deep`` names it, ``retention apply --dry-run`` lists it without touching the
bucket (and lists the waiting items with their reason, finding 11), and ``retention apply``
puts it back; on a real Object Lock bucket (moto server)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from models.policy.rules import Policy
from models.tables import ArchivedObject
from recvault.cli.app import _main
from simulator.scenario import Scenario
from storage.catalog.store import Catalog
from storage.s3.store import ObjectStore
from tests.fixtures.archive import MakeRunEnv
from tests.fixtures.db import sqlite_url
from tests.fixtures.s3 import MakeStore
from tests.integration.retention_support import Clock, archive_all

pytestmark = pytest.mark.integration

# Nothing is due by the wall clock: the only thing retention has to do is the hold.
POLICY_TOML = (
    'version = 1\n[[rules]]\nname = "keep"\nretention = "10y"\nderivative = "none"\n'
    'object_lock_mode = "none"\n'
)
SCENARIO = Scenario(seed=5, count=2, video_ratio=0.0, composed_ratio=0.0, legs_weights=(1, 0, 0))


def _s3_legal_hold(store: ObjectStore, obj: ArchivedObject) -> bool:
    info = store.head(obj.key, version_id=obj.version_id)
    assert info is not None
    return info.legal_hold is True


def test_a_legal_hold_switched_off_in_s3_is_reported_listed_and_put_back(
    start_simulator: Any,
    make_store: MakeStore,
    make_run_env: MakeRunEnv,
    s3_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    start = SCENARIO.start_at
    url = sqlite_url(tmp_path / "c.db")
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(POLICY_TOML)
    store = make_store(s3_bucket)
    with start_simulator(SCENARIO) as sim:
        with Catalog.open(url) as catalog:
            archive_all(
                sim,
                catalog=catalog,
                store=store,
                policy=Policy.loads(POLICY_TOML),
                clock=Clock(start + timedelta(hours=3)),
                tmp_path=tmp_path,
                since=start - timedelta(hours=1),
                until=start + timedelta(hours=3),
            )
            (held_row, held_objects), (free_row, _) = sorted(
                catalog.search(), key=lambda r: r[0].recording_id
            )
        make_run_env(
            sim, bucket=s3_bucket, catalog_url=url, RECVAULT_POLICY_FILE=str(policy_file)
        ).apply(monkeypatch)

        def cli(*args: str) -> tuple[int, str, str]:
            capsys.readouterr()
            code = _main(list(args))
            captured = capsys.readouterr()
            return code, captured.out, captured.err

        code, out, err = cli(
            "hold", "place", "--call-id", held_row.call_id or "", "--reason", "r", "--case", "K",
            "--json",
        )  # fmt: skip
        assert code == 0 and json.loads(out)["versions"] == 1, err
        (original,) = held_objects
        assert _s3_legal_hold(store, original)
        code, out, err = cli("verify", "--deep", "--json")
        assert code == 0, (out, err)

        # Someone with S3 rights, not recvault, switches the legal hold off.
        store.client.put_object_legal_hold(
            Bucket=s3_bucket,
            Key=original.key,
            VersionId=original.version_id or "",
            LegalHold={"Status": "OFF"},
        )
        code, out, err = cli("verify", "--deep", "--json")
        problems = [p["problem"] for p in json.loads(out)["problems"]]
        assert code != 0 and len(problems) == 1, problems
        assert problems[0].startswith("s3_legal_hold_off: ") and original.key in problems[0]

        code, out, err = cli("retention", "apply", "--dry-run", "--json")
        assert code == 0, err
        planned = json.loads(out)["plan"]
        assert [h["recording_id"] for h in planned["holds_to_apply"]] == [held_row.recording_id]
        code, out, err = cli("retention", "apply", "--dry-run")
        assert code == 0 and "holds to apply 1; dry run: nothing was changed" in out, err
        assert f"S3 legal hold to put ON: {held_row.recording_id} (legal hold #1)" in out
        # Finding 11: the waiting items are listed with their reason, not only counted.
        assert "waiting: 2 deletion(s) not due yet" in out and "(a legal hold is active)" in out
        assert not _s3_legal_hold(store, original)

        code, out, err = cli("retention", "apply", "--json")
        assert code == 0, (out, err)
        assert _s3_legal_hold(store, original)
        code, out, err = cli("verify", "--deep", "--json")
        assert code == 0 and json.loads(out)["problems"] == [], out
        with Catalog.open(url) as catalog:
            assert catalog.audit_events(held_row.recording_id)[-1].event == "legal_hold_applied"
            assert catalog.audit_events(free_row.recording_id)[-1].event == "archived"
