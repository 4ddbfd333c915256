"""Claims and run locks on SQLite and PostgreSQL, including concurrent claimers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from models.states import RecordingState
from storage.catalog.store import Catalog
from tests.fixtures.db import T0, make_meta

pytestmark = pytest.mark.integration
S = RecordingState


def _seed(catalog: Catalog, count: int) -> list[str]:
    ids = [f"r{i:03d}" for i in range(count)]
    # Listed out of order: claims must still come oldest first.
    metas = [make_meta(rid, started_at=T0 + timedelta(minutes=i)) for i, rid in enumerate(ids)]
    catalog.upsert_discovered(list(reversed(metas)), at=T0, actor="t")
    return ids


def test_claim_takes_oldest_first_and_skips_claimed_rows(catalog: Catalog) -> None:
    ids = _seed(catalog, 5)

    first = catalog.claim(worker="w1", limit=2, now=T0, lease_s=60)
    second = catalog.claim(worker="w2", limit=10, now=T0, lease_s=60)

    assert first == ids[:2]
    assert second == ids[2:]
    assert catalog.claim(worker="w3", limit=10, now=T0, lease_s=60) == []
    row = catalog.get(ids[0])
    assert (row.claimed_by, row.claimed_until) == ("w1", T0 + timedelta(seconds=60))


def test_claim_takes_expired_leases_and_skips_finished_or_waiting_rows(catalog: Catalog) -> None:
    ids = _seed(catalog, 4)
    catalog.claim(worker="w1", limit=1, now=T0, lease_s=60)  # ids[0]
    catalog.transition(ids[1], S.FAILED, actor="t", event="failed", at=T0)
    catalog.defer(ids[2], until=T0 + timedelta(hours=1), reason="wait", at=T0, actor="t")

    assert catalog.claim(worker="w2", limit=10, now=T0 + timedelta(seconds=59), lease_s=60) == [
        ids[3]
    ]
    taken = catalog.claim(worker="w2", limit=10, now=T0 + timedelta(seconds=60), lease_s=60)

    assert taken == [ids[0]]
    assert catalog.get(ids[0]).claimed_by == "w2"


def test_renew_and_release_only_for_the_holder(catalog: Catalog) -> None:
    (rid,) = _seed(catalog, 1)
    catalog.claim(worker="w1", limit=1, now=T0, lease_s=60)

    assert not catalog.renew(rid, worker="w2", now=T0, lease_s=600)
    assert catalog.renew(rid, worker="w1", now=T0 + timedelta(seconds=30), lease_s=600)
    assert catalog.get(rid).claimed_until == T0 + timedelta(seconds=630)
    catalog.release(rid, worker="w2")
    assert catalog.get(rid).claimed_by == "w1"
    catalog.release(rid, worker="w1")
    assert catalog.get(rid).claimed_by is None
    assert not catalog.renew(rid, worker="w1", now=T0, lease_s=60)


def test_release_claims_of_dead_holders(catalog: Catalog) -> None:
    ids = _seed(catalog, 3)
    catalog.claim(worker="dead", limit=2, now=T0, lease_s=600)
    catalog.claim(worker="alive", limit=1, now=T0, lease_s=600)

    assert catalog.release_claims(lambda holder: holder == "dead") == 2
    assert catalog.claim(worker="new", limit=10, now=T0, lease_s=60) == ids[:2]
    assert catalog.release_claims(lambda holder: False) == 0


def test_leaving_in_progress_drops_the_claim(catalog: Catalog) -> None:
    (rid,) = _seed(catalog, 1)
    catalog.claim(worker="w1", limit=1, now=T0, lease_s=60)
    row = catalog.transition(
        rid, S.QUARANTINED, actor="w1", event="quarantined", at=T0, worker="w1"
    )
    assert (row.claimed_by, row.claimed_until) == (None, None)


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_claimers_never_share_a_recording(
    catalog_url: str, catalog: Catalog, workers: int
) -> None:
    ids = _seed(catalog, 120)
    claimed: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(workers)

    def work(name: str) -> None:
        # Its own Catalog: its own engine and connections, like a separate process.
        with Catalog.open(catalog_url, migrate=False) as own:
            mine: list[str] = []
            barrier.wait()
            try:
                while batch := own.claim(worker=name, limit=3, now=T0, lease_s=600):
                    mine.extend(batch)
            except BaseException as exc:
                errors.append(exc)
            claimed[name] = mine

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    everything = [rid for mine in claimed.values() for rid in mine]
    assert sorted(everything) == ids  # each exactly once
    for name, mine in claimed.items():
        assert {catalog.get(rid).claimed_by for rid in mine} <= {name}


def test_lock_acquire_renew_expire_release(catalog: Catalog) -> None:
    assert catalog.lock_holder("archive-run") is None
    assert catalog.acquire_lock("archive-run", holder="a", now=T0, lease_s=60)
    assert catalog.acquire_lock("archive-run", holder="a", now=T0, lease_s=60)  # re-entrant
    assert not catalog.acquire_lock(
        "archive-run", holder="b", now=T0 + timedelta(seconds=59), lease_s=60
    )
    assert catalog.lock_holder("archive-run") == "a"

    assert catalog.renew_lock("archive-run", holder="a", now=T0 + timedelta(seconds=50), lease_s=60)
    assert not catalog.renew_lock("archive-run", holder="b", now=T0, lease_s=60)
    assert not catalog.acquire_lock(
        "archive-run", holder="b", now=T0 + timedelta(seconds=100), lease_s=60
    )

    # a's renewed lease ends at T0+110s; then b takes the lock and a can no longer renew it.
    assert catalog.acquire_lock(
        "archive-run", holder="b", now=T0 + timedelta(seconds=110), lease_s=60
    )
    assert not catalog.renew_lock(
        "archive-run", holder="a", now=T0 + timedelta(seconds=111), lease_s=60
    )
    catalog.release_lock("archive-run", holder="a")  # not the holder: no effect
    assert catalog.lock_holder("archive-run") == "b"
    catalog.release_lock("archive-run", holder="b")
    assert catalog.lock_holder("archive-run") is None
    assert catalog.acquire_lock("archive-run", holder="c", now=T0, lease_s=60)
    assert catalog.acquire_lock("other", holder="d", now=T0, lease_s=60)


def test_concurrent_lock_acquirers_get_one_winner(catalog_url: str, catalog: Catalog) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(4)

    def race(name: str) -> None:
        with Catalog.open(catalog_url, migrate=False) as own:
            barrier.wait()
            if own.acquire_lock("archive-run", holder=name, now=T0, lease_s=60):
                winners.append(name)

    threads = [threading.Thread(target=race, args=(f"h{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(winners) == 1
    assert catalog.lock_holder("archive-run") == winners[0]
