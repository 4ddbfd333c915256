"""The archive state machine on the source side, without Prefect: DISCOVERED -> (PREPARING) ->
READY -> DOWNLOADED over in-memory fakes, a SQLite catalog and a stopped clock.

Each test drives one recording the way a run does (claim, ``process_recording``) and checks
the catalog's states, attempts, back-off and audit trail, what the source was asked, and what
reached the store. ffprobe is real: the fake source serves tiny WAVs.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from flows.archive.steps import Outcome
from models.errors import (
    DownloadIntegrityError,
    ObjectStoreError,
    RecordingNotReady,
    SourceError,
    SourceNotFound,
    SourceRateLimited,
    SourceServerError,
    SourceUnavailable,
)
from models.ports import ReadinessReport
from models.states import RecordingState
from tests.unit.conftest import MakeServices
from tests.unit.fakes import (
    FakeServices,
    Serve,
    failed,
    gone,
    not_media,
    preparing,
    ready,
    tiny_wav,
    waiting,
)

S = RecordingState
HAPPY = [
    (None, "DISCOVERED"),
    ("DISCOVERED", "READY"),
    ("READY", "DOWNLOADED"),
    ("DOWNLOADED", "UPLOADED"),
    ("UPLOADED", "ARCHIVED"),
]


def _archived_bytes(svc: FakeServices, recording_id: str) -> bytes | None:
    (obj,) = svc.catalog.objects(recording_id)
    return svc.fake_store.data(obj.key, obj.version_id)


def test_a_ready_recording_goes_from_discovered_to_archived_in_one_call(
    svc: FakeServices,
) -> None:
    data = tiny_wav()
    svc.fake_source.add("r1", data)
    assert svc.discover().new == 1

    report = svc.advance("r1")

    assert report.outcome == Outcome.ARCHIVED and report.state == S.ARCHIVED
    assert report.downloaded_bytes == report.uploaded_bytes == len(data)
    assert svc.transitions("r1") == HAPPY
    row = svc.row("r1")
    assert row.attempts == 0 and row.claimed_by is None and row.next_attempt_at is None
    assert row.source_sha256 == hashlib.sha256(data).hexdigest()
    assert row.source_size_bytes == len(data)
    assert row.probe is not None and row.probe["format_name"] == "wav"
    assert row.archived_at == svc.clock()
    (obj,) = svc.catalog.objects("r1")
    assert obj.kind == "original" and obj.key.endswith("/conv-r1/r1/original.wav")
    assert obj.sha256 == row.source_sha256 and obj.checksum_method == "reread"
    assert obj.verified_at == svc.clock()
    # Locked until a year after the call (the policy), in the object and in the catalog.
    info = svc.fake_store.head(obj.key)
    assert info is not None and info.lock_mode == obj.lock_mode == "GOVERNANCE"
    assert info.retain_until == obj.retain_until == row.started_at.replace(year=2026)
    assert svc.fake_store.data(obj.key) == data
    assert svc.fake_store.uploads == [obj.key]
    assert svc.work.folders() == []
    assert svc.catalog.verify_audit_chain() == []


def test_not_ready_at_the_source_waits_without_using_an_attempt(svc: FakeServices) -> None:
    svc.fake_source.add("r1", tiny_wav(), readiness=[waiting("IN_PROGRESS"), ready()])
    svc.discover()

    report = svc.advance("r1")

    assert report.outcome == Outcome.WAITING
    row = svc.row("r1")
    assert row.state == S.DISCOVERED and row.attempts == 0 and row.last_error is None
    assert row.recording_status == "IN_PROGRESS"
    assert row.next_attempt_at == svc.clock() + timedelta(seconds=300)  # not_ready_retry_s
    assert svc.events("r1")[-1] == ("deferred", "DISCOVERED", "DISCOVERED")
    assert svc.fake_source.download_calls["r1"] == 0
    assert svc.work.folders() == []  # a waiting recording keeps no empty folder

    svc.fake_clock.advance(299)
    assert svc.due() == []
    svc.fake_clock.advance(1)
    assert svc.advance("r1").outcome == Outcome.ARCHIVED
    assert svc.row("r1").attempts == 0


def test_a_preparation_is_polled_until_ready(svc: FakeServices) -> None:
    svc.fake_source.add(
        "v1",
        tiny_wav(),
        media_type="AUDIO_AND_VIDEO",
        filename="v1.wav",
        readiness=[preparing(), preparing(), ready(preparation="READY")],
    )
    svc.discover()

    first = svc.advance("v1")
    assert first.outcome == Outcome.WAITING and first.state == S.PREPARING
    row = svc.row("v1")
    assert row.preparation_status == "IN_PROGRESS" and row.attempts == 0
    assert row.next_attempt_at == svc.clock() + timedelta(seconds=5)  # prepare_poll_s
    assert svc.due() == []

    svc.fake_clock.advance(5)
    assert svc.advance("v1").state == S.PREPARING  # still preparing: polled again later
    svc.fake_clock.advance(5)
    assert svc.advance("v1").outcome == Outcome.ARCHIVED

    assert svc.transitions("v1") == [
        (None, "DISCOVERED"),
        ("DISCOVERED", "PREPARING"),
        ("PREPARING", "READY"),
        *HAPPY[2:],
    ]
    assert [e for e, _, _ in svc.events("v1")].count("deferred") == 2
    assert svc.row("v1").preparation_status == "READY" and svc.row("v1").attempts == 0
    assert [rid for rid, _ in svc.fake_source.readiness_calls] == ["v1"] * 3


def test_a_failed_preparation_is_retried_with_back_off_then_fails_at_max_attempts(
    svc: FakeServices,
) -> None:
    svc.fake_source.add(
        "v1",
        tiny_wav(),
        media_type="AUDIO_AND_VIDEO",
        readiness=[preparing(), failed()] * 3,
    )
    svc.discover()
    retry_waits = []
    for attempt in (1, 2, 3):
        assert svc.advance("v1").state == S.PREPARING
        svc.fake_clock.advance(5)
        report = svc.advance("v1")
        row = svc.row("v1")
        assert row.attempts == attempt
        assert row.last_error == "video preparation failed"
        if attempt < 3:
            # Asked again from the start: the next attempt requests a new preparation.
            assert report.outcome == Outcome.RETRY and row.state == S.DISCOVERED
            assert row.next_attempt_at is not None
            retry_waits.append(row.next_attempt_at - svc.clock())
            svc.fake_clock.advance(row.next_attempt_at - svc.clock())
    assert report.outcome == Outcome.FAILED and row.state == S.FAILED
    assert row.next_attempt_at is None
    assert retry_waits == [timedelta(seconds=30), timedelta(seconds=60)]
    assert svc.transitions("v1")[1:] == [
        ("DISCOVERED", "PREPARING"),
        ("PREPARING", "DISCOVERED"),
        ("DISCOVERED", "PREPARING"),
        ("PREPARING", "DISCOVERED"),
        ("DISCOVERED", "PREPARING"),
        ("PREPARING", "FAILED"),
    ]
    assert svc.fake_source.download_calls["v1"] == 0
    svc.fake_clock.advance(timedelta(days=1))
    assert svc.due() == []


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (gone(), "deleted at the source before it was archived"),
        (
            failed("recording status at the source is FAILED", retryable=False),
            "recording status at the source is FAILED",
        ),
    ],
    ids=["gone", "failed-at-source"],
)
def test_gone_or_failed_at_the_source_fails_at_once(
    svc: FakeServices, answer: ReadinessReport, error: str
) -> None:
    svc.fake_source.add("r1", tiny_wav(), readiness=[answer])
    svc.discover()

    report = svc.advance("r1")

    assert report.outcome == Outcome.FAILED
    row = svc.row("r1")
    assert row.state == S.FAILED and row.attempts == 1 and row.last_error == error
    assert svc.transitions("r1")[-1] == ("DISCOVERED", "FAILED")
    assert svc.fake_source.download_calls["r1"] == 0
    assert svc.fake_store.uploads == []


def test_404_after_listing_counts_attempts_until_failed(svc: FakeServices) -> None:
    missing = SourceNotFound("recording r1: 404 Not Found", status_code=404)
    svc.fake_source.add("r1", tiny_wav(), downloads=[Serve(fail=missing)] * 3)
    svc.discover()

    waits = []
    for attempt in (1, 2, 3):
        report = svc.advance("r1")
        row = svc.row("r1")
        assert row.attempts == attempt
        assert row.last_error == "download answered 404: recording r1: 404 Not Found"
        if attempt < 3:
            assert report.outcome == Outcome.RETRY and row.state == S.READY
            assert row.next_attempt_at is not None
            waits.append(row.next_attempt_at - svc.clock())
            svc.fake_clock.advance(row.next_attempt_at - svc.clock())
    assert report.outcome == Outcome.FAILED and row.state == S.FAILED
    assert waits == [timedelta(seconds=30), timedelta(seconds=60)]
    assert svc.transitions("r1")[-1] == ("READY", "FAILED")
    # Each 404 made the source re-read (refresh) before counting the attempt.
    assert svc.fake_source.readiness_calls.count(("r1", True)) == 3
    assert svc.work.folders() == []


def test_404_when_the_source_confirms_it_is_gone_fails_at_once(svc: FakeServices) -> None:
    missing = SourceNotFound("recording r1: 404 Not Found", status_code=404)
    svc.fake_source.add(
        "r1", tiny_wav(), readiness=[ready(), gone("the source no longer lists it")]
    )
    svc.fake_source.script_downloads("r1", Serve(fail=missing))
    svc.discover()

    report = svc.advance("r1")

    assert report.outcome == Outcome.FAILED
    row = svc.row("r1")
    assert row.state == S.FAILED and row.attempts == 1
    assert row.last_error == "SourceNotFound: the source no longer lists it"
    assert svc.transitions("r1")[-1] == ("READY", "FAILED")


@pytest.mark.parametrize(
    "error",
    [
        SourceUnavailable("connection reset"),
        SourceRateLimited("429 Too Many Requests", retry_after_s=1.0),
        SourceServerError("503 Service Unavailable", status_code=503),
        DownloadIntegrityError("body ended early at 1000 bytes of 3244"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transient_source_errors_retry_with_back_off_and_resume_the_partial_file(
    svc: FakeServices, error: SourceError
) -> None:
    data = tiny_wav()
    svc.fake_source.add(
        "r1",
        data,
        downloads=[Serve(fail=error, partial_bytes=1000), Serve(fail=error)],
    )
    svc.discover()

    first = svc.advance("r1")
    assert first.outcome == Outcome.RETRY and first.error == str(error)
    row = svc.row("r1")
    assert row.state == S.READY and row.attempts == 1
    assert row.last_error == f"{type(error).__name__}: {error}"
    assert row.next_attempt_at == svc.clock() + timedelta(seconds=30)
    partial = svc.work.root / "r1" / "original.wav.part"
    assert partial.read_bytes() == data[:1000]  # kept to resume

    svc.fake_clock.advance(29)
    assert svc.due() == []
    svc.fake_clock.advance(1)
    second = svc.advance("r1")
    assert second.outcome == Outcome.RETRY
    assert svc.row("r1").next_attempt_at == svc.clock() + timedelta(seconds=60)  # doubled

    svc.fake_clock.advance(60)
    third = svc.advance("r1")
    assert third.outcome == Outcome.ARCHIVED
    assert svc.row("r1").attempts == 2
    assert _archived_bytes(svc, "r1") == data
    # The third download resumed at byte 1000; the bytes before it matched, so no second
    # download was needed.
    assert svc.fake_source.download_calls["r1"] == 3
    downloaded = next(e for e in svc.catalog.audit_events("r1") if e.event == "downloaded")
    assert downloaded.detail is not None and downloaded.detail["resumes"] == 1


def test_source_bytes_changed_on_resume_quarantines_with_both_hashes(
    svc: FakeServices,
) -> None:
    before, after = tiny_wav(1), tiny_wav(2)
    assert len(before) == len(after) and before != after
    svc.fake_source.add(
        "r1", before, downloads=[Serve(fail=SourceUnavailable("reset"), partial_bytes=2000)]
    )
    svc.discover()
    assert svc.advance("r1").outcome == Outcome.RETRY
    svc.fake_source.change_bytes("r1", after)
    svc.fake_clock.advance(30)

    report = svc.advance("r1")

    assert report.outcome == Outcome.QUARANTINED
    stitched = hashlib.sha256(before[:2000] + after[2000:]).hexdigest()
    fresh = hashlib.sha256(after).hexdigest()
    row = svc.row("r1")
    assert row.state == S.QUARANTINED
    assert (row.source_sha256, row.conflicting_sha256) == (stitched, fresh)
    assert row.last_error == "the source served different bytes on two downloads"
    event = svc.catalog.audit_events("r1")[-1]
    assert (event.event, event.from_state, event.to_state) == (
        "source_changed",
        "READY",
        "QUARANTINED",
    )
    assert event.detail is not None
    assert (event.detail["first_sha256"], event.detail["second_sha256"]) == (stitched, fresh)
    assert svc.fake_store.uploads == []
    assert svc.work.folders() == []
    svc.fake_clock.advance(timedelta(days=1))
    assert svc.due() == []


def test_a_resume_the_source_checked_needs_no_second_download(svc: FakeServices) -> None:
    data = tiny_wav()
    svc.fake_source.add("r1", data, downloads=[Serve(resumes=2)])
    svc.discover()

    assert svc.advance("r1").outcome == Outcome.ARCHIVED

    assert svc.fake_source.download_calls["r1"] == 1
    assert _archived_bytes(svc, "r1") == data
    downloaded = next(e for e in svc.catalog.audit_events("r1") if e.event == "downloaded")
    assert downloaded.detail is not None and downloaded.detail["resumes"] == 2


def test_bytes_changed_between_two_full_downloads_quarantine(svc: FakeServices) -> None:
    """The work file is lost after DOWNLOADED (another machine picked the recording up); the
    new download differs from the hash the catalog recorded."""
    before, after = tiny_wav(1), tiny_wav(2)
    svc.fake_source.add("r1", before)
    svc.discover()
    svc.fake_store.fail("put_file", ObjectStoreError("503 SlowDown"))
    assert svc.advance("r1").state == S.DOWNLOADED
    (svc.work.root / "r1" / "original.wav").unlink()
    svc.fake_source.change_bytes("r1", after)
    svc.fake_clock.advance(30)

    assert svc.advance("r1").outcome == Outcome.QUARANTINED

    row = svc.row("r1")
    assert row.source_sha256 == hashlib.sha256(before).hexdigest()
    assert row.conflicting_sha256 == hashlib.sha256(after).hexdigest()
    assert svc.transitions("r1")[-2:] == [("DOWNLOADED", "READY"), ("READY", "QUARANTINED")]
    assert [e for e, _, _ in svc.events("r1")][-2:] == ["work_file_missing", "source_changed"]
    assert svc.fake_store.uploads == []


def test_unreadable_media_is_quarantined(svc: FakeServices) -> None:
    data = not_media()
    svc.fake_source.add("r1", data)
    svc.discover()

    report = svc.advance("r1")

    assert report.outcome == Outcome.QUARANTINED
    row = svc.row("r1")
    assert row.state == S.QUARANTINED and row.attempts == 0
    assert row.source_sha256 == hashlib.sha256(data).hexdigest()
    assert row.last_error is not None and row.last_error.startswith("ffprobe cannot read")
    event = svc.catalog.audit_events("r1")[-1]
    assert (event.event, event.from_state) == ("unreadable_media", "READY")
    assert event.detail is not None and event.detail["sha256"] == row.source_sha256
    assert str(svc.work.root) not in (event.detail["stderr_tail"] + row.last_error)
    assert svc.fake_store.uploads == []
    assert svc.work.folders() == []


def test_recording_not_ready_on_download_goes_back_to_discovered_without_an_attempt(
    svc: FakeServices,
) -> None:
    not_prepared = RecordingNotReady("409: media not prepared", status_code=409)
    svc.fake_source.add("r1", tiny_wav(), downloads=[Serve(fail=not_prepared)])
    svc.discover()

    report = svc.advance("r1")

    assert report.outcome == Outcome.WAITING
    row = svc.row("r1")
    assert row.state == S.DISCOVERED and row.attempts == 0
    assert row.next_attempt_at == svc.clock() + timedelta(seconds=5)  # prepare_poll_s
    assert svc.transitions("r1")[-1] == ("READY", "DISCOVERED")
    assert svc.events("r1")[-1][0] == "not_prepared"
    assert svc.work.folders() == []
    svc.fake_clock.advance(5)
    assert svc.advance("r1").outcome == Outcome.ARCHIVED


def test_a_full_work_dir_defers_without_an_attempt_and_removes_the_partial_file(
    make_services: MakeServices,
) -> None:
    svc = make_services(work_dir_max_bytes=300 * 1024)
    data = tiny_wav(seconds=25)  # 400 KB: more than the work dir may hold
    assert len(data) > svc.work.max_bytes
    svc.fake_source.add("r1", data)
    svc.discover()

    report = svc.advance("r1")

    assert report.outcome == Outcome.WAITING and report.error is not None
    assert "is full" in report.error
    row = svc.row("r1")
    assert row.state == S.READY and row.attempts == 0
    assert row.last_error is not None and row.last_error.startswith("WorkDirError: ")
    assert row.next_attempt_at == svc.clock() + timedelta(seconds=30)
    assert svc.fake_source.download_calls["r1"] == 1
    assert svc.work.folders() == []  # the partial download would hold the space

    svc.work.max_bytes = 64 * 1024 * 1024  # room again
    svc.fake_clock.advance(30)
    assert svc.advance("r1").outcome == Outcome.ARCHIVED
    assert svc.row("r1").attempts == 0
