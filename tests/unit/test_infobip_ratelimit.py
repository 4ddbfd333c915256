"""The token buckets behind the Infobip client: timing on a fake clock, and under threads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from storage.infobip.ratelimit import RateLimiter, TokenBucket
from tests.unit.infobip_fakes import FakeClock, make_client


def test_burst_then_steady_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, 3, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(6)]
    assert waits == [0.0, 0.0, 0.0, 0.5, 0.5, 0.5]
    assert clock.now == pytest.approx(1001.5)


def test_idle_time_refills_up_to_burst_only() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        bucket.acquire()
    clock.now += 0.2  # two tokens back
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, pytest.approx(0.1)]
    clock.now += 3600  # an hour idle still only saves `burst` tokens
    waits = [bucket.acquire() for _ in range(6)]
    assert waits[:5] == [0.0] * 5 and waits[5] == pytest.approx(0.1)


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBucket(0, 1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1, 0)
    with pytest.raises(ValueError, match="tokens"):
        TokenBucket(1, 2).acquire(3)


def test_operation_classes_have_independent_buckets() -> None:
    clock = FakeClock()
    limits = {"metadata": (1.0, 1), "download": (100.0, 100)}
    limiter = RateLimiter(limits, clock=clock, sleep=clock.sleep)
    assert limiter.acquire("metadata") == 0.0
    assert all(limiter.acquire("download") == 0.0 for _ in range(100))
    assert limiter.acquire("metadata") == 1.0
    with pytest.raises(ValueError, match="unknown-op"):
        limiter.acquire("unknown-op")


def test_reservations_across_threads_hand_out_each_slot_once() -> None:
    """With time frozen, N acquisitions from many threads must get exactly the waits
    0 (x burst), 1/rate, 2/rate, ...: no slot given twice, none skipped, whatever the order."""
    clock = FakeClock()
    frozen = clock.now
    waits: list[float] = []
    lock = threading.Lock()

    def no_time_passes(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    rate, burst, threads, per_thread = 50.0, 7, 8, 40
    bucket = TokenBucket(rate, burst, clock=lambda: frozen, sleep=no_time_passes)
    start = threading.Barrier(threads)

    def worker() -> None:
        start.wait()
        for _ in range(per_thread):
            bucket.acquire()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    total = threads * per_thread
    expected = [k / rate for k in range(1, total - burst + 1)]
    assert sorted(waits) == pytest.approx(expected)


def test_real_clock_threads_respect_the_rate() -> None:
    rate, burst, threads, per_thread = 400.0, 5, 4, 25
    bucket = TokenBucket(rate, burst)
    done: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(per_thread):
            bucket.acquire()
            with lock:
                done.append(time.monotonic())

    began = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - began
    minimum = (threads * per_thread - burst) / rate  # 0.2375 s
    assert elapsed >= minimum * 0.98
    # Never more than burst + rate * t completions within the first t seconds.
    for index, at in enumerate(sorted(done)):
        assert index + 1 <= burst + rate * (at - began) + 1


def test_client_waits_for_metadata_tokens() -> None:
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"enabled": True})

    with make_client(handler, clock, metadata_rate_per_s=4.0, metadata_burst=2) as client:
        for _ in range(5):
            client.get_account_recording_config()
    assert clock.sleeps == [0.25, 0.25, 0.25]


def test_client_download_bucket_is_separate(tmp_path: Path) -> None:
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("account-recording-config"):
            return httpx.Response(200, json={"enabled": True})
        return httpx.Response(200, content=b"abc")

    with make_client(
        handler, clock, metadata_rate_per_s=1.0, metadata_burst=1, download_rate_per_s=2.0
    ) as client:
        client.get_account_recording_config()
        client.download("r1", tmp_path / "a")
        client.download("r2", tmp_path / "b")
        assert clock.sleeps == []  # download burst is 2 (= its rate), metadata untouched
        client.download("r3", tmp_path / "c")
        assert clock.sleeps == [0.5]
        client.get_account_recording_config()
    assert clock.sleeps == [0.5, 0.5]
