"""`recvault erase` and `hold place` as a person uses them (issue 9, findings 8 and 7): an
identity in another spelling still matches, nothing matched is said, with exit 10, and an
erasure takes the identity out of the released holds on that person."""

from __future__ import annotations

import json
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
from tests.integration.retention_support import TEST_IDENTITY_KEY, Clock, archive_all

pytestmark = pytest.mark.integration

POLICY = Policy.loads(
    'version = 1\n[[rules]]\nname = "r"\nretention = "1y"\nderivative = "none"\n'
    'object_lock_mode = "none"\n'
)
SCENARIO = Scenario(seed=31, count=4, video_ratio=0.0, composed_ratio=0.0, legs_weights=(0, 1, 0))


def test_spellings_match_and_nothing_found_exits_10(
    start_simulator: Any,
    make_store: MakeStore,
    s3_bucket: str,
    moto_server: MotoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    start = SCENARIO.start_at
    url = sqlite_url(tmp_path / "c.db")
    with start_simulator(SCENARIO) as sim, Catalog.open(url) as catalog:
        archive_all(
            sim,
            catalog=catalog,
            store=make_store(s3_bucket),
            policy=POLICY,
            clock=Clock(start + timedelta(hours=3)),
            tmp_path=tmp_path,
            since=start - timedelta(hours=1),
            until=start + timedelta(hours=3),
        )
        customer = next(e for e in sim.recordings() if e["participantType"] == "CUSTOMER")
        # Source deletion is off (the default): the erasure reports the copy at Infobip as due.
        infobip = {"RECVAULT_INFOBIP_BASE_URL": sim.base_url, "RECVAULT_INFOBIP_API_KEY": "k"}
    digits = customer["participantIdentity"]
    assert digits.isdigit()  # as Infobip sends it: no plus
    for key, value in {
        **AWS_TEST_ENV,
        "RECVAULT_S3_BUCKET": s3_bucket,
        "RECVAULT_S3_ENDPOINT_URL": moto_server.endpoint_url,
        "RECVAULT_DATABASE_URL": url,
        "RECVAULT_IDENTITY_KEY": TEST_IDENTITY_KEY,
        **infobip,
    }.items():
        monkeypatch.setenv(key, value)

    def cli(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = _main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    spaced = f"+{digits[:2]} {digits[2:6]} {digits[6:]}"
    code, out, _ = cli("erase", "--participant-identity", spaced, "--dry-run", "--json")
    assert code == 0 and customer["recordingId"] in {
        i["recording_id"] for i in json.loads(out)["plan"]["items"]
    }
    code, _, err = cli("erase", "--participant-identity", "+10000000000", "--dry-run")
    assert code == 10 and "no recording of this participant identity" in err
    code, _, err = cli(
        "hold", "place", "--conversation-id", "conv-typo", "--reason", "r", "--case", "K"
    )
    assert code == 10 and "covers no recording in the catalog" in err
    code, out, _ = cli(
        "hold", "place", "--participant", f"00{digits}", "--reason", "r", "--case", "K2", "--json"
    )
    assert code == 0 and json.loads(out)["recordings"] == 2  # both legs of the conversation

    # Finding 7: the erasure removes the identity from released holds on the person, and says
    # which active hold keeps it.
    code, out, err = cli("erase", "--participant-identity", spaced)
    assert code == 0 and "active legal hold(s) #2 keep this identity" in out, (out, err)
    assert cli("hold", "release", "K2")[0] == 0
    code, out, err = cli("erase", "--participant-identity", spaced)
    assert code == 0 and "released legal hold(s) #2: the identity was removed" in out, err
    code, out, _ = cli("hold", "list", "--all", "--json")
    assert code == 0 and digits not in out and "(erased)" in out
