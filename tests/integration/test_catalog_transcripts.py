"""Two runs that archive the same conversation's transcript at once (two workers, or a
backfill beside the schedule) both record their object version; neither run fails."""

from __future__ import annotations

import threading

import pytest

from models.tables import ConversationTranscript
from storage.catalog.store import Catalog
from tests.fixtures.db import T0

pytestmark = pytest.mark.integration

WRITERS = 6


def _version(n: int) -> ConversationTranscript:
    return ConversationTranscript(
        conversation_id="conv-1",
        bucket="archive",
        key="transcripts/conv-1/messages.json",
        version_id=f"v{n}",
        sha256=f"{n:064x}",
        size_bytes=100 + n,
        message_count=3,
        archived_at=T0,
        updated_at=T0,
        verified_at=T0,
    )


def test_concurrent_first_versions_are_all_recorded(catalog_url: str) -> None:
    with Catalog.open(catalog_url) as catalog:
        start = threading.Barrier(WRITERS)
        errors: list[BaseException] = []

        def write(n: int) -> None:
            start.wait()
            try:
                catalog.record_transcript(_version(n), at=T0, actor=f"worker-{n}")
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        row = catalog.transcript("conv-1")
        assert row is not None and row.versions == WRITERS
        events = [e for e in catalog.audit_events() if e.event == "transcript_archived"]
        assert sorted(e.actor for e in events) == sorted(f"worker-{n}" for n in range(WRITERS))
        assert catalog.verify_audit_chain() == []
