"""Figures measured in this process: state-machine commits per second on the catalog, the
cost of recvault's transcode against ffmpeg run directly, and the catalog search hook."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from models.ports import SourceRecording
from models.states import RecordingState
from storage import media
from storage.catalog.store import Catalog

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def commits_per_s(url: str, *, workers: int, seconds: float) -> float:
    """Each worker loops claim -> READY -> DISCOVERED -> release on its own recordings: four
    commits each time, every one a transaction with its audit event (claims and releases have
    none). Returns commits per second over all workers."""
    catalog = Catalog.open(url)
    try:
        metas = [
            SourceRecording("bench", f"sm-{i:05d}", T0 + timedelta(seconds=i))
            for i in range(workers * 8)
        ]
        catalog.upsert_discovered(metas, at=datetime.now(UTC), actor="bench")
        counts = [0] * workers
        stop = time.monotonic() + seconds

        def work(slot: int) -> None:
            worker = f"bench:{slot}:{uuid.uuid4().hex[:8]}"
            while time.monotonic() < stop:
                now = datetime.now(UTC)
                claimed = catalog.claim(worker=worker, limit=1, now=now, lease_s=60)
                counts[slot] += 1
                for rid in claimed:
                    for to, event in (
                        (RecordingState.READY, "ready"),
                        (RecordingState.DISCOVERED, "not_prepared"),
                    ):
                        catalog.transition(
                            rid, to, actor=worker, event=event, at=now, worker=worker
                        )
                        counts[slot] += 1
                    catalog.release(rid, worker=worker)
                    counts[slot] += 1

        started = time.monotonic()
        threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(counts) / (time.monotonic() - started)
    finally:
        catalog.close()


@contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    name = f"recvault_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def state_machine(root: Path, pg_url: str | None, *, seconds: float) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for workers in (1, 4):
        url = f"sqlite:///{root / f'sm-{workers}.db'}"
        result[f"sqlite_{workers}"] = commits_per_s(url, workers=workers, seconds=seconds)
        if pg_url:
            with pg_database(pg_url) as url:
                result[f"postgresql_{workers}"] = commits_per_s(
                    url, workers=workers, seconds=seconds
                )
    return result


def transcode_cost(root: Path, *, seconds_of_audio: int, reps: int) -> dict[str, Any]:
    """recvault's opus derivative (ffmpeg through ``storage.media``, then a probe of the
    result and a rename) against the same ffmpeg command line run directly."""
    src = root / "voice.wav"
    ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
    tone = f"sine=frequency=440:duration={seconds_of_audio}:sample_rate=16000"
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", tone, "-ac", "1", str(src)],
        check=True,
    )
    direct_out = root / "direct.ogg"
    args = media.transcode_args(src, direct_out, target="opus")

    def ours() -> None:
        out = root / "ours.ogg"
        out.unlink(missing_ok=True)
        media.transcode(src, out, target="opus")

    def direct() -> None:
        subprocess.run(args, check=True, capture_output=True)

    timings: dict[str, list[float]] = {"recvault": [], "ffmpeg": []}
    for _ in range(reps):
        for name, call in (("recvault", ours), ("ffmpeg", direct)):
            timings[name].append(_timed(call))
    mins = {name: min(values) for name, values in timings.items()}
    return {
        "seconds_of_audio": seconds_of_audio,
        "recvault_s": {"min": mins["recvault"], "median": statistics.median(timings["recvault"])},
        "ffmpeg_s": {"min": mins["ffmpeg"], "median": statistics.median(timings["ffmpeg"])},
        "ratio": mins["recvault"] / mins["ffmpeg"],
    }


def _timed(call: Callable[[], None]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started
