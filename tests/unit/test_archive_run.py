"""``run_archive_locally`` (the run loop without Prefect) end to end over the fakes: a dozen
recordings through a pool of four threads, the summary's counts, a run that waits for a
preparation within its budget, and a rerun that archives nothing twice."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from flows.archive.run import run_archive_locally
from models.errors import BucketPolicyError, CatalogLocked, ObjectStoreError, SourceUnavailable
from models.policy.rules import Policy
from tests.unit.conftest import MakeServices
from tests.unit.fakes import (
    T0,
    FakeServices,
    Serve,
    gone,
    not_media,
    preparing,
    ready,
    tiny_wav,
    waiting,
)

SINCE, UNTIL = T0 - timedelta(hours=1), T0 + timedelta(days=1)


@pytest.fixture
def running(make_services: MakeServices) -> FakeServices:
    """The run loop sleeps in real time until deferred work is due: the clock runs."""
    # A budget far above what the tests need: a loaded machine must not end the wait early.
    return make_services(running_clock=True, prepare_poll_s=0.05, prepare_wait_s=60.0)


def test_a_dozen_recordings_are_archived_by_four_workers(running: FakeServices) -> None:
    svc = running
    ids = svc.fake_source.add_many(12, tiny_wav)
    sizes = sum(len(tiny_wav(i)) for i in range(12))
    svc.fake_source.download_delay_s = 0.1  # long enough for downloads to overlap

    summary = run_archive_locally(svc, SINCE, UNTIL)

    assert (summary.listed, summary.new, summary.updated) == (12, 12, 0)
    assert dict(summary.outcomes) == {"archived": 12}
    assert summary.catalog == {"ARCHIVED": 12}
    assert summary.downloaded_bytes == summary.uploaded_bytes == sizes
    assert summary.problems == []
    assert summary.source_stats == {"downloads": 12}
    assert (summary.since, summary.until) == (SINCE, UNTIL)
    assert 1 < svc.fake_source.peak_downloads <= 4  # in parallel, never more than concurrency
    assert len(svc.fake_store.uploads) == len(set(svc.fake_store.uploads)) == 12
    for rid in ids:
        row = svc.row(rid)
        assert row.state == "ARCHIVED" and row.claimed_by is None
        assert row.source_sha256 == svc.fake_source.sha256(rid)
    assert svc.catalog.lock_holder("archive-run") is None
    assert svc.work.folders() == []
    finished = svc.catalog.audit_events()[-1]
    assert finished.event == "run_finished" and finished.detail is not None
    assert finished.detail["outcomes"] == {"archived": 12}
    assert svc.catalog.verify_audit_chain() == []


def test_a_run_waits_for_a_preparation_within_its_budget_and_reports_every_outcome(
    running: FakeServices,
) -> None:
    svc = running
    svc.fake_source.add_many(3, tiny_wav)
    svc.fake_source.add(
        "video",
        tiny_wav(7),
        started_at=T0 + timedelta(hours=1),
        media_type="AUDIO_AND_VIDEO",
        filename="video.wav",
        readiness=[preparing(), ready(preparation="READY")],
    )
    svc.fake_source.add("gone", tiny_wav(8), started_at=T0 + timedelta(hours=2), readiness=[gone()])
    svc.fake_source.add("garbled", not_media(), started_at=T0 + timedelta(hours=3))

    summary = run_archive_locally(svc, SINCE, UNTIL)

    # The video was deferred once, then archived by the same run once its preparation was due.
    assert dict(summary.outcomes) == {"archived": 4, "waiting": 1, "failed": 1, "quarantined": 1}
    assert summary.catalog == {"ARCHIVED": 4, "FAILED": 1, "QUARANTINED": 1}
    assert {rid for rid, _ in summary.problems} == {"gone", "garbled"}
    # Each problem line gives the reason, not only the state.
    assert all(reason not in ("FAILED", "QUARANTINED") for _, reason in summary.problems)
    assert svc.row("video").state == "ARCHIVED"

    # A second run over the same window finds nothing new and uploads nothing again.
    uploads = list(svc.fake_store.uploads)
    again = run_archive_locally(svc, SINCE, UNTIL)
    assert (again.listed, again.new) == (6, 0)
    assert dict(again.outcomes) == {}
    assert svc.fake_store.uploads == uploads
    assert again.catalog == summary.catalog


def test_a_preparation_outlasting_the_run_is_left_waiting(make_services: MakeServices) -> None:
    svc = make_services(running_clock=True, prepare_poll_s=60.0, prepare_wait_s=1.0)
    svc.fake_source.add("video", tiny_wav(), media_type="AUDIO_AND_VIDEO", readiness=[preparing()])

    summary = run_archive_locally(svc, SINCE, UNTIL)

    assert dict(summary.outcomes) == {"waiting": 1}
    assert summary.catalog == {"PREPARING": 1}
    row = svc.row("video")
    assert row.attempts == 0 and row.claimed_by is None and row.next_attempt_at is not None


def test_a_bucket_without_the_lock_the_policy_requires_stops_the_run_before_anything(
    make_services: MakeServices,
) -> None:
    required = Policy.loads(
        'version = 1\n[[rules]]\nname = "mifid"\nretention = "5y"\n'
        'object_lock_mode = "COMPLIANCE"\nobject_lock_required = true\nderivative = "none"\n'
    )
    svc = make_services(object_lock=True, policy=required)
    svc.fake_store.object_lock = False
    svc.fake_source.add_many(2, tiny_wav)

    with pytest.raises(BucketPolicyError, match="Object Lock"):
        run_archive_locally(svc, SINCE, UNTIL)

    assert svc.fake_source.list_calls == [] and svc.catalog.search() == []


def test_a_second_run_on_the_same_sqlite_catalog_is_refused(
    running: FakeServices, make_services: MakeServices
) -> None:
    svc = running
    other = make_services("other", catalog=svc.catalog)
    other.worker = "another-host:1:abcdef01"
    assert svc.catalog.acquire_lock("archive-run", holder=other.worker, now=svc.clock(), lease_s=60)

    with pytest.raises(CatalogLocked, match="another recvault archive run"):
        run_archive_locally(svc, SINCE, UNTIL)


def test_an_erased_persons_earlier_recordings_are_not_archived_again(
    make_services: MakeServices,
) -> None:
    """Issue 9, finding 7: nothing stopped a later run from archiving an erased person's
    recordings again: here one the source listed only after the request (the erased one's
    copy at the source went with the erasure). Calls after the request are archived."""
    from flows.retention.erasure import run_erasure

    svc = make_services(identity_key="unit-identity-key-0123456789")
    svc.fake_source.add("first", tiny_wav(0), participant_identity="447700900825")
    svc.fake_source.add("someone", tiny_wav(1), participant_identity="441111111111")
    assert run_archive_locally(svc, SINCE, UNTIL).catalog == {"ARCHIVED": 2}
    erasure = run_erasure(svc, "+44 7700 900825", dry_run=False)
    assert [(r.recording_id, r.outcome) for r in erasure.results] == [("first", "done")]

    svc.fake_source.add(
        "missed",
        tiny_wav(2),
        started_at=T0 + timedelta(hours=1),
        participant_identity="447700900825",
    )
    after = svc.fake_clock() + timedelta(hours=1)
    svc.fake_source.add(
        "new-call", tiny_wav(3), started_at=after, participant_identity="447700900825"
    )
    summary = run_archive_locally(svc, SINCE, after + timedelta(hours=1))
    assert summary.catalog == {"ARCHIVED": 2, "EXPIRED": 1}
    assert svc.row("new-call").state == "ARCHIVED" and svc.row("first").state == "EXPIRED"
    assert "missed" not in {r.recording_id for r, _ in svc.catalog.search()}
    skipped = [e for e in svc.catalog.audit_events() if e.event == "erased_recordings_skipped"]
    assert [(e.detail or {})["recordings"] for e in skipped] == [["missed"]]


def test_a_run_returns_at_once_when_only_retries_are_pending(
    make_services: MakeServices,
) -> None:
    """A retry back-off is the next run's work: the run does not sleep for it, however soon
    it ends (it used to wait up to RECVAULT_PREPARE_WAIT_S)."""
    svc = make_services(
        running_clock=True, retry_backoff_s=3.0, not_ready_retry_s=3.0, prepare_wait_s=60.0
    )
    svc.fake_source.add_many(2, tiny_wav)
    (flaky,) = svc.fake_source.add_many(1, tiny_wav, prefix="flaky")
    svc.fake_source.script_downloads(flaky, Serve(fail=SourceUnavailable("connection reset")))
    svc.fake_source.add("later", tiny_wav(9), readiness=[waiting()])

    started = time.monotonic()
    summary = run_archive_locally(svc, SINCE, UNTIL)

    # Neither was worked on again: the run ended before their 3 s were up.
    assert dict(summary.outcomes) == {"archived": 2, "retry": 1, "waiting": 1}
    assert time.monotonic() - started < 3.0
    assert svc.row(flaky).state == "READY" and svc.row(flaky).next_attempt_at is not None


def test_waiting_for_retries_within_the_run_is_opt_in(make_services: MakeServices) -> None:
    svc = make_services(
        running_clock=True, retry_backoff_s=0.2, prepare_wait_s=10.0, wait_for_retries=True
    )
    (flaky,) = svc.fake_source.add_many(1, tiny_wav)
    svc.fake_source.script_downloads(flaky, Serve(fail=SourceUnavailable("connection reset")))

    summary = run_archive_locally(svc, SINCE, UNTIL)

    assert dict(summary.outcomes) == {"retry": 1, "archived": 1}
    assert svc.row(flaky).state == "ARCHIVED"


def test_a_recording_whose_last_commit_let_go_of_its_claim_needs_no_release(
    svc: FakeServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Archived, failed and deferred recordings are released by their last transition; a
    separate release would be one more write transaction per recording."""
    released: list[str] = []
    real_release = svc.catalog.release

    def counting(recording_id: str, *, worker: str) -> None:
        released.append(recording_id)
        real_release(recording_id, worker=worker)

    monkeypatch.setattr(svc.catalog, "release", counting)
    svc.fake_source.add_many(2, tiny_wav)
    svc.fake_source.add("gone", tiny_wav(8), readiness=[gone()])
    svc.fake_source.add("late", tiny_wav(9), readiness=[waiting()])

    summary = run_archive_locally(svc, SINCE, UNTIL)

    assert dict(summary.outcomes) == {"archived": 2, "failed": 1, "waiting": 1}
    assert released == []
    assert all(row.claimed_by is None for row, _ in svc.catalog.search())


def test_a_run_lists_each_day_once_instead_of_looking_up_every_key(
    svc: FakeServices,
) -> None:
    """New recordings: one listing of their day, no lookup of an earlier copy per upload."""
    svc.fake_source.add_many(5, tiny_wav)

    summary = run_archive_locally(svc, SINCE, UNTIL)

    assert dict(summary.outcomes) == {"archived": 5}
    assert svc.fake_store.calls["list_keys"] == 1  # all five started on one day
    assert svc.fake_store.calls["find_verified_copy"] == 0
    assert len(svc.fake_store.uploads) == 5 and svc.known_keys is None


def test_a_key_the_listing_shows_is_still_adopted_not_uploaded_again(
    svc: FakeServices,
) -> None:
    """An upload whose commit was lost (the run died): the next run's listing shows the key,
    and the object is adopted."""
    (rid,) = svc.fake_source.add_many(1, tiny_wav)
    svc.fake_store.fail("put_file", ObjectStoreError("connection reset"), after=True)
    first = run_archive_locally(svc, SINCE, UNTIL)
    assert dict(first.outcomes) == {"retry": 1}
    assert len(svc.fake_store.uploads) == 1
    assert svc.fake_store.calls["find_verified_copy"] == 0
    svc.fake_clock.advance(60)  # past the back-off

    second = run_archive_locally(svc, SINCE, UNTIL)

    assert dict(second.outcomes) == {"archived": 1}
    assert len(svc.fake_store.uploads) == 1  # adopted
    assert svc.fake_store.calls["find_verified_copy"] == 1
    assert svc.row(rid).state == "ARCHIVED"


def test_a_retry_within_the_run_finds_the_object_its_failed_attempt_uploaded(
    make_services: MakeServices,
) -> None:
    """The day was listed before the upload; the attempt's put landed but its answer was
    lost. The retry in the same run must look again (the run noted the key), not upload a
    second version."""
    svc = make_services(running_clock=True, retry_backoff_s=0.0)
    (rid,) = svc.fake_source.add_many(1, tiny_wav)
    svc.fake_store.fail("put_file", ObjectStoreError("connection reset"), after=True)

    summary = run_archive_locally(svc, SINCE, UNTIL)

    assert dict(summary.outcomes) == {"retry": 1, "archived": 1}
    assert len(svc.fake_store.uploads) == 1  # adopted by the retry
    assert svc.fake_store.calls["find_verified_copy"] == 1
    assert svc.row(rid).state == "ARCHIVED"
