"""Fast checks of the pieces the fault tests lean on: the work dir's space accounting and the
deep verification's audit-trail and key rules (no servers, no Prefect)."""

from __future__ import annotations

import threading
from collections import namedtuple
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.verify.steps import check_audit_trail, recording_id_of
from models.errors import WorkDirError
from models.keys import object_key
from models.states import RecordingState
from models.tables import ArchivedObject, AuditEvent, Recording
from storage.workdir import GrowthGuard, WorkDir

MiB = 1024 * 1024
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _write(path: Path, size: int, guard: GrowthGuard) -> None:
    """Write like a download does: a network read, then the progress callback."""
    guard.start()
    with path.open("wb") as fh:
        written = 0
        while written < size:
            chunk = min(GrowthGuard.MAX_WRITE_BYTES, size - written)
            fh.write(b"\0" * chunk)
            written += chunk
            guard(written)


def test_a_file_cannot_grow_past_the_limit(tmp_path: Path) -> None:
    workdir = WorkDir(tmp_path, max_bytes=MiB)
    workdir.prepare()
    path = workdir.folder("r1") / "original.wav.part"
    guard = workdir.guard(path)
    with pytest.raises(WorkDirError, match=r"limit is 1048576 bytes.*RECVAULT_WORK_DIR_MAX_BYTES"):
        _write(path, 2 * MiB, guard)
    assert path.stat().st_size <= MiB
    guard.done()
    path.unlink()
    # The space is free again: a file that fits is written whole.
    _write(path, MiB // 2, workdir.guard(path))


def test_concurrent_writers_never_overshoot_together(tmp_path: Path) -> None:
    """Four 1 MiB writers under a 2 MiB limit: some are stopped, the total never passes it."""
    workdir = WorkDir(tmp_path, max_bytes=2 * MiB)
    results: list[str] = []
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            on_disk = sum(p.stat().st_size for p in tmp_path.rglob("*.part") if p.exists())
            peak = max(peak, on_disk)

    def writer(name: str) -> None:
        path = workdir.folder(name) / "original.wav.part"
        guard = workdir.guard(path)
        try:
            _write(path, MiB, guard)
            results.append("ok")
        except WorkDirError:
            results.append("full")
        finally:
            guard.done()

    sampler = threading.Thread(target=sample)
    sampler.start()
    threads = [threading.Thread(target=writer, args=(f"r{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    sampler.join()
    assert "full" in results and len(results) == 4
    assert peak <= 2 * MiB and workdir.used_bytes() <= 2 * MiB


def test_allowances_count_until_forgotten_and_buffered_bytes_count_against_free_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = WorkDir(tmp_path, max_bytes=64 * MiB)
    path = workdir.folder("r1") / "original.wav.part"
    workdir.grow(path, 3 * MiB)
    assert workdir.used_bytes() == 3 * MiB  # nothing on disk yet, the allowance counts
    # A disk with 4 MiB free: 3 are promised already, so 2 more do not fit.
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("shutil.disk_usage", lambda _p: usage(8 * MiB, 4 * MiB, 4 * MiB))
    other = workdir.folder("r2") / "original.wav.part"
    with pytest.raises(WorkDirError, match="bytes free, 2097152 more needed"):
        workdir.grow(other, 2 * MiB)
    workdir.forget(path)
    workdir.grow(other, 2 * MiB)
    assert workdir.used_bytes() == 2 * MiB


def test_tidy_keeps_files_and_removes_empty_folders(tmp_path: Path) -> None:
    workdir = WorkDir(tmp_path, max_bytes=MiB)
    (workdir.folder("kept") / "original.wav.part").write_bytes(b"x")
    workdir.folder("empty")
    workdir.tidy("kept")
    workdir.tidy("empty")
    assert workdir.folders() == ["kept"]
    workdir.clean("kept")
    assert workdir.folders() == []


def _event(i: int, rid: str, event: str, to: str | None, frm: str | None = None) -> AuditEvent:
    return AuditEvent(
        id=i,
        at=T0 + timedelta(seconds=i),
        recording_id=rid,
        event=event,
        from_state=frm,
        to_state=to,
        actor="test",
        hash=f"h{i}",
    )


def _row(rid: str, state: RecordingState) -> Recording:
    return Recording(recording_id=rid, started_at=T0, state=state)


def test_audit_trail_rules() -> None:
    rows: list[tuple[Recording, list[ArchivedObject]]] = [
        (_row("good", RecordingState.SOURCE_DELETED), []),
        (_row("early", RecordingState.SOURCE_DELETED), []),
        (_row("twice", RecordingState.ARCHIVED), []),
        (_row("silent", RecordingState.ARCHIVED), []),
    ]
    events = [
        _event(1, "good", "archived", "ARCHIVED", "UPLOADED"),
        _event(2, "good", "source_deleted", "SOURCE_DELETED", "ARCHIVED"),
        _event(3, "early", "source_deleted", "SOURCE_DELETED", "ARCHIVED"),
        _event(4, "early", "archived", "ARCHIVED", "UPLOADED"),
        _event(5, "twice", "archived", "ARCHIVED", "UPLOADED"),
        _event(6, "twice", "archived", "ARCHIVED", "UPLOADED"),
    ]
    problems = {(p.recording_id, p.problem) for p in check_audit_trail(rows, events)}
    assert problems == {
        ("early", "source deleted (source_deleted) before the recording was ARCHIVED"),
        ("twice", "2 'archived' audit events (expected one)"),
        ("silent", "ARCHIVED without an 'archived' audit event"),
    }


def test_recording_id_of_reads_what_object_key_writes() -> None:
    key = object_key(started_at=T0, conversation_id="c-1", recording_id="r-1", name="x.wav")
    assert recording_id_of(key) == "r-1"
    assert recording_id_of("recordings/stray.bin") is None
    assert recording_id_of(".recvault-selfcheck/sha256-probe") is None
