"""The archive state machine on the store side, without Prefect: DOWNLOADED -> UPLOADED ->
ARCHIVED over a dict-backed bucket, with S3 errors, corrupted uploads, lost responses and
catalog outages. Whatever fails, a rerun finishes the recording and never uploads an object
whose bytes are already archived a second time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.archive.steps import Outcome
from models.errors import CatalogUnavailable, ObjectStoreError
from models.policy.rules import Policy
from models.states import RecordingState
from models.tables import Recording
from storage import media
from storage.catalog.store import Catalog
from tests.unit.conftest import MakeServices
from tests.unit.fakes import FakeServices, fresh_catalog, tiny_wav

S = RecordingState
SLOW_DOWN = ObjectStoreError("s3://fake-archive: 503 SlowDown (after botocore's retries)")
OPUS = Policy.loads(
    """
version = 1
[[rules]]
name = "playback"
retention = "1y"
object_lock_mode = "GOVERNANCE"
derivative = "opus"
"""
)


def _archive_until(svc: FakeServices, recording_id: str, state: RecordingState) -> None:
    """Discover and advance until the recording rests in ``state`` (a fault stops it)."""
    svc.discover()
    report = svc.advance(recording_id)
    assert report.state == state, (report, svc.row(recording_id).last_error)


def _rerun_when_due(svc: FakeServices, recording_id: str) -> Outcome:
    row = svc.row(recording_id)
    if row.next_attempt_at is not None and row.next_attempt_at > svc.clock():
        svc.fake_clock.advance(row.next_attempt_at - svc.clock())
    return svc.advance(recording_id).outcome


def test_an_s3_error_on_put_is_retried_and_uploads_once(svc: FakeServices) -> None:
    data = tiny_wav()
    svc.fake_source.add("r1", data)
    svc.fake_store.fail("put_file", SLOW_DOWN)
    _archive_until(svc, "r1", S.DOWNLOADED)

    row = svc.row("r1")
    assert row.attempts == 1 and row.last_error == f"ObjectStoreError: {SLOW_DOWN}"
    assert row.next_attempt_at == svc.clock() + timedelta(seconds=30)
    assert svc.fake_store.uploads == []
    assert (svc.work.root / "r1" / "original.wav").read_bytes() == data  # kept for the retry

    assert _rerun_when_due(svc, "r1") == Outcome.ARCHIVED
    assert len(svc.fake_store.uploads) == 1
    assert svc.fake_source.download_calls["r1"] == 1  # not downloaded again
    assert svc.transitions("r1")[-2:] == [("DOWNLOADED", "UPLOADED"), ("UPLOADED", "ARCHIVED")]


def test_an_upload_whose_answer_was_lost_is_adopted_not_uploaded_again(
    svc: FakeServices,
) -> None:
    svc.fake_source.add("r1", tiny_wav())
    svc.fake_store.fail("put_file", ObjectStoreError("connection reset"), after=True)
    _archive_until(svc, "r1", S.DOWNLOADED)
    (key,) = svc.fake_store.object_keys()
    (first_version,) = svc.fake_store.version_ids(key)

    assert _rerun_when_due(svc, "r1") == Outcome.ARCHIVED

    assert svc.fake_store.uploads == [key]
    assert svc.fake_store.version_ids(key) == [first_version]
    (obj,) = svc.catalog.objects("r1")
    assert obj.version_id == first_version and obj.verified_at is not None


def test_an_object_that_missed_its_lock_gets_it_before_it_is_archived(
    svc: FakeServices,
) -> None:
    """A store that drops lock headers (moto on multipart) and a retention call that failed:
    the object exists unlocked and the recording stays UPLOADED (the verification confirms
    the lock); the rerun locks it, never uploading again."""
    svc.fake_store.keeps_lock_headers = False
    svc.fake_source.add("r1", tiny_wav())
    svc.fake_store.fail("ensure_retention", SLOW_DOWN)
    _archive_until(svc, "r1", S.UPLOADED)
    (key,) = svc.fake_store.object_keys()
    unlocked = svc.fake_store.head(key)
    assert unlocked is not None and unlocked.lock_mode is None

    assert _rerun_when_due(svc, "r1") == Outcome.ARCHIVED

    assert svc.fake_store.uploads == [key]
    locked = svc.fake_store.head(key)
    (obj,) = svc.catalog.objects("r1")
    assert locked is not None and locked.lock_mode == obj.lock_mode == "GOVERNANCE"
    assert locked.retain_until == obj.retain_until is not None
    assert svc.fake_store.retention_set == [(key, unlocked.version_id)]


def test_an_s3_error_on_verify_is_retried_without_uploading_again(svc: FakeServices) -> None:
    svc.fake_source.add("r1", tiny_wav())
    svc.fake_store.fail("verify", SLOW_DOWN)
    _archive_until(svc, "r1", S.UPLOADED)
    row = svc.row("r1")
    assert row.attempts == 1 and row.next_attempt_at == svc.clock() + timedelta(seconds=30)
    (obj,) = svc.catalog.objects("r1")
    assert obj.verified_at is None

    assert _rerun_when_due(svc, "r1") == Outcome.ARCHIVED

    assert len(svc.fake_store.uploads) == 1
    assert svc.fake_store.calls["verify"] == 2
    assert svc.transitions("r1")[-1] == ("UPLOADED", "ARCHIVED")


@pytest.mark.parametrize(
    ("operation", "resting", "final"),
    [
        ("put_file", S.DOWNLOADED, ("DOWNLOADED", "FAILED")),
        ("verify", S.UPLOADED, ("UPLOADED", "FAILED")),
    ],
    ids=["put", "verify"],
)
def test_s3_errors_until_max_attempts_fail_the_recording(
    svc: FakeServices, operation: str, resting: RecordingState, final: tuple[str, str]
) -> None:
    svc.fake_source.add("r1", tiny_wav())
    svc.fake_store.fail(operation, SLOW_DOWN, times=3)
    _archive_until(svc, "r1", resting)
    assert _rerun_when_due(svc, "r1") == Outcome.RETRY
    assert svc.row("r1").state == resting

    assert _rerun_when_due(svc, "r1") == Outcome.FAILED

    row = svc.row("r1")
    assert row.state == S.FAILED and row.attempts == 3 and row.next_attempt_at is None
    assert svc.transitions("r1")[-1] == final
    assert svc.work.folders() == []  # a failed recording needs no work file


def test_a_corrupted_upload_goes_back_to_downloaded_and_is_uploaded_again(
    svc: FakeServices,
) -> None:
    data = tiny_wav()
    svc.fake_source.add("r1", data)
    svc.fake_store.damage_next_put(lambda stored: stored[:-10])  # truncated on the way in
    _archive_until(svc, "r1", S.DOWNLOADED)

    row = svc.row("r1")
    assert row.attempts == 1 and row.next_attempt_at == svc.clock()  # at once, no back-off
    assert row.last_error is not None and row.last_error.startswith("ChecksumMismatch: ")
    assert svc.transitions("r1")[-2:] == [("DOWNLOADED", "UPLOADED"), ("UPLOADED", "DOWNLOADED")]

    assert svc.advance("r1").outcome == Outcome.ARCHIVED

    (key,) = svc.fake_store.object_keys()
    bad, good = svc.fake_store.version_ids(key)
    (obj,) = svc.catalog.objects("r1")
    assert obj.version_id == good and svc.fake_store.data(key, good) == data
    assert svc.fake_store.data(key, bad) == data[:-10]
    assert svc.fake_source.download_calls["r1"] == 1  # uploaded again from the work file


def test_an_uploaded_recording_without_its_objects_is_redone_from_the_source(
    svc: FakeServices,
) -> None:
    """UPLOADED with no original in the catalog (a catalog restored from an older backup):
    back to DOWNLOADED, the work file is gone, so back to READY, and archived again."""
    data = tiny_wav()
    svc.fake_source.add("r1", data)
    svc.discover()
    at = svc.clock()
    for to in (S.READY, S.DOWNLOADED, S.UPLOADED):
        svc.catalog.transition(
            "r1",
            to,
            actor="restore",
            event=to.lower(),
            at=at,
            source_sha256=hashlib.sha256(data).hexdigest(),
            source_size_bytes=len(data),
        )

    assert svc.advance("r1").outcome == Outcome.ARCHIVED

    assert svc.transitions("r1")[4:] == [
        ("UPLOADED", "DOWNLOADED"),
        ("DOWNLOADED", "READY"),
        ("READY", "DOWNLOADED"),
        ("DOWNLOADED", "UPLOADED"),
        ("UPLOADED", "ARCHIVED"),
    ]
    assert [e for e, _, _ in svc.events("r1")][4:6] == ["object_missing", "work_file_missing"]
    assert svc.row("r1").attempts == 0


class FlakyCatalog(Catalog):
    """The real catalog, except that transitions into ``down_for`` (committed alone or as a
    hop of the next commit) fail as in an outage."""

    down_for: frozenset[RecordingState] = frozenset()

    def transition(self, recording_id: str, to: RecordingState, **kwargs: Any) -> Any:
        if {to, *(hop.to for hop in kwargs.get("via", ()))} & self.down_for:
            raise CatalogUnavailable("catalog database is unreachable (connection refused)")
        return super().transition(recording_id, to, **kwargs)


@pytest.fixture
def flaky(make_services: MakeServices, tmp_path: Path) -> Iterator[tuple[FakeServices, Any]]:
    catalog = fresh_catalog(tmp_path / "flaky", FlakyCatalog)
    assert isinstance(catalog, FlakyCatalog)
    yield make_services(catalog=catalog), catalog


def test_a_catalog_outage_propagates_and_costs_no_attempt(flaky: Any) -> None:
    svc, catalog = flaky
    data = tiny_wav()
    svc.fake_source.add("r1", data)
    svc.discover()
    catalog.down_for = frozenset({S.UPLOADED})

    with pytest.raises(CatalogUnavailable):
        svc.advance("r1")

    row = svc.row("r1")
    # READY, DOWNLOADED (a small file) and UPLOADED ride in one commit, which the outage
    # refused: the recording is where its last commit left it.
    assert row.state == S.DISCOVERED and row.attempts == 0 and row.last_error is None
    assert row.claimed_by is None  # released for the retry (or another worker)
    assert "attempt_failed" not in [e for e, _, _ in svc.events("r1")]
    (key,) = svc.fake_store.object_keys()  # uploaded before the outage hit

    catalog.down_for = frozenset()
    assert svc.advance("r1").outcome == Outcome.ARCHIVED
    assert svc.fake_store.uploads == [key]  # adopted, not uploaded twice


def test_a_derivative_is_made_and_adopted_after_a_lost_answer(
    make_services: MakeServices,
) -> None:
    """Real ffmpeg (opus). The playback copy's upload answer is lost; the rerun adopts the
    copy that was made from the same source bytes instead of transcoding again."""
    svc = make_services(policy=OPUS)
    svc.fake_source.add("r1", tiny_wav())
    svc.fake_store.fail("put_file", ObjectStoreError("timeout"), after=True, key_part="playback")
    _archive_until(svc, "r1", S.DOWNLOADED)
    assert sorted(k.rsplit("/", 1)[1] for k in svc.fake_store.object_keys()) == [
        "original.wav",
        "playback.ogg",
    ]

    assert _rerun_when_due(svc, "r1") == Outcome.ARCHIVED

    assert len(svc.fake_store.uploads) == 2  # each object once
    objects = {o.kind: o for o in svc.catalog.objects("r1")}
    assert set(objects) == {"original", "transcoded"}
    playback = objects["transcoded"]
    assert playback.codec == "opus" and playback.content_type == "audio/ogg"
    assert playback.verified_at is not None and playback.lock_mode == "GOVERNANCE"
    stored = svc.fake_store.data(playback.key, playback.version_id)
    assert stored is not None and hashlib.sha256(stored).hexdigest() == playback.sha256


def test_a_recording_already_past_its_retention_is_archived_unlocked(
    make_services: MakeServices,
) -> None:
    """A backfill of a call older than its retention: S3 refuses a retain-until in the past."""
    svc = make_services(now=datetime(2027, 1, 1, tzinfo=UTC))
    svc.fake_source.add("r1", tiny_wav())

    _archive_until(svc, "r1", S.ARCHIVED)

    (obj,) = svc.catalog.objects("r1")
    info = svc.fake_store.head(obj.key)
    assert info is not None and info.lock_mode is None and obj.lock_mode is None


def test_without_object_lock_on_the_bucket_objects_are_archived_unlocked(
    make_services: MakeServices,
) -> None:
    svc = make_services(object_lock=False)
    svc.fake_source.add("r1", tiny_wav())

    _archive_until(svc, "r1", S.ARCHIVED)

    (obj,) = svc.catalog.objects("r1")
    assert obj.lock_mode is None and obj.retain_until is None


def test_the_upload_reuses_the_download_probe(
    svc: FakeServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One ffprobe process per recording: the upload reads the probe the download stored."""
    probed: list[str] = []
    real_probe = media.probe

    def counting(path: Path, **kwargs: Any) -> media.MediaInfo:
        probed.append(path.name)
        return real_probe(path, **kwargs)

    monkeypatch.setattr(media, "probe", counting)
    svc.fake_source.add("r1", tiny_wav())
    svc.discover()

    assert svc.advance("r1").outcome == Outcome.ARCHIVED

    assert probed == ["original.wav"]
    (original,) = svc.catalog.objects("r1")
    assert original.codec == "pcm_s16le" and original.duration_s is not None


def test_an_unreadable_stored_probe_is_probed_again(svc: FakeServices) -> None:
    svc.fake_source.add("r1", tiny_wav())
    svc.fake_store.fail("put_file", SLOW_DOWN)
    _archive_until(svc, "r1", S.DOWNLOADED)
    # A probe without a format name, as an older version might have stored.
    with svc.catalog._tx(write=True) as session:
        row = session.get(Recording, "r1")
        assert row is not None
        row.probe = {"size_bytes": len(tiny_wav())}

    assert _rerun_when_due(svc, "r1") == Outcome.ARCHIVED
    (original,) = svc.catalog.objects("r1")
    assert original.codec == "pcm_s16le"
