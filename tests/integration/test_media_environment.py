"""A missing or overloaded ffprobe is the machine's problem, not the evidence's (issue 9,
finding 9): the run stops (missing) or retries (timeout), never QUARANTINES; and
``recvault retry`` re-queues FAILED and QUARANTINED recordings with an audit event."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from models.errors import MediaToolMissing
from models.policy.rules import Policy
from recvault.cli.app import _main
from simulator.scenario import Scenario
from storage import media
from storage.catalog.store import Catalog
from tests.fixtures.db import sqlite_url
from tests.fixtures.s3 import MakeStore
from tests.integration.retention_support import Clock, archive_all

pytestmark = pytest.mark.integration

POLICY = Policy.loads(
    'version = 1\n[[rules]]\nname = "keep"\nretention = "1y"\nderivative = "none"\n'
    'object_lock_mode = "none"\n'
)
# MP3s: a plain PCM WAV is described from its header and never needs ffprobe (storage/riff.py).
SCENARIO = Scenario(
    seed=8, count=3, video_ratio=0.0, mp3_ratio=1.0, composed_ratio=0.0, legs_weights=(1, 0, 0)
)


def _tool(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def _states(catalog: Catalog) -> dict[str, tuple[str, int]]:
    return {r.recording_id: (str(r.state), r.attempts) for r, _ in catalog.search()}


def test_missing_or_slow_ffprobe_never_quarantines_and_retry_requeues(
    start_simulator: Any,
    make_store: MakeStore,
    s3_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    start = SCENARIO.start_at
    url = sqlite_url(tmp_path / "c.db")
    clock = Clock(start + timedelta(hours=3))
    window = {"since": start - timedelta(hours=1), "until": start + timedelta(hours=3)}
    with start_simulator(SCENARIO) as sim, Catalog.open(url) as catalog:
        kw: dict[str, Any] = {
            "catalog": catalog,
            "store": make_store(s3_bucket),
            "policy": POLICY,
            "clock": clock,
            "tmp_path": tmp_path,
            **window,
        }
        # 1. No ffprobe: the first recording that needs it stops the run; nothing is
        #    quarantined, no attempt is used.
        monkeypatch.setattr(media, "FFPROBE", str(tmp_path / "no-ffprobe-here"))
        with pytest.raises(MediaToolMissing, match="not found on PATH"):
            archive_all(sim, **kw)
        with pytest.raises(MediaToolMissing, match="no recording was touched"):
            media.require_tools()
        states = _states(catalog)
        assert len(states) == 3
        assert all(
            state not in ("QUARANTINED", "FAILED") and n == 0 for state, n in states.values()
        )

        # 2. An ffprobe that runs out of time: retried, then FAILED, never QUARANTINED.
        monkeypatch.setattr(media, "FFPROBE", _tool(tmp_path, "slow-ffprobe", "sleep 10"))
        monkeypatch.setattr(media, "PROBE_TIMEOUT_S", 0.3)
        clock.advance(hours=1)  # past the wait of step 1
        assert archive_all(sim, **kw) == 0
        assert {s for s, _ in _states(catalog).values()} == {"FAILED"}

        # 3. ffprobe says a file is unreadable: that one is QUARANTINED (the evidence's problem).
        monkeypatch.setattr(media, "FFPROBE", _tool(tmp_path, "bad-ffprobe", "exit 1"))
        monkeypatch.setenv("RECVAULT_DATABASE_URL", url)
        first = sorted(_states(catalog))[0]
        capsys.readouterr()
        assert _main(["retry", "--recording-id", first, "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == {
            "requeued": [{"recording_id": first, "from_state": "FAILED"}],
            "count": 1,
        }
        archive_all(sim, **kw)
        assert _states(catalog)[first] == ("QUARANTINED", 0)

        # 4. The real ffprobe back: retry by status brings every one of them to ARCHIVED.
        monkeypatch.undo()
        monkeypatch.setenv("RECVAULT_DATABASE_URL", url)
        for status in ("QUARANTINED", "FAILED"):
            assert _main(["retry", "--status", status]) == 0
        assert "re-queued 2 recording(s)" in capsys.readouterr().out
        assert archive_all(sim, **kw) == 3
        assert {s for s, _ in _states(catalog).values()} == {"ARCHIVED"}
        requeued = [e for e in catalog.audit_events() if e.event == "requeued"]
        assert [(e.from_state, e.to_state) for e in requeued][-1] == ("FAILED", "DISCOVERED")
        assert (requeued[1].detail or {})["previous_state"] == "QUARANTINED"
        assert "ffprobe" in (requeued[1].detail or {})["previous_error"]
        assert catalog.verify_audit_chain() == []

        # Bad input: one line, exit 2, nothing changed.
        assert _main(["retry", "--recording-id", first]) == 2
        assert "only FAILED or QUARANTINED" in capsys.readouterr().err
        assert _main(["retry", "--status", "ARCHIVED"]) == 2
        assert _main(["retry"]) == 2
