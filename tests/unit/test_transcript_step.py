"""The run's transcript step over the fakes: which conversations it reads, one failure kept
to its conversation, and a retry that stores what failed and leaves the rest unchanged."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.archive.transcripts import archive_transcripts
from models.errors import CatalogUnavailable, SourceBadRequest, SourceUnavailable
from models.keys import transcript_key
from models.states import RecordingState
from models.tables import ArchivedObject
from tests.fixtures.db import make_meta
from tests.unit.fakes.services import FakeServices, services
from tests.unit.fakes.source import T0, FakeSource

S = RecordingState
WINDOW = (T0 - timedelta(hours=1), T0 + timedelta(hours=1))


class MessagingSource(FakeSource):
    """The fake source with conversations' messages (``models.ports.MessageSource``)."""

    def __init__(self) -> None:
        super().__init__("conversations")
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.down: set[str] = set()
        self.reads: list[str] = []
        self.listing_down = False
        self.unknown: set[str] = set()

    def list_messages(self, conversation_id: str) -> Iterator[Mapping[str, Any]]:
        self.reads.append(conversation_id)
        if conversation_id in self.unknown:
            raise SourceBadRequest("Infobip GET /ccaas/1/conversations/{id}/messages: NOT_FOUND")
        if conversation_id in self.down:
            raise SourceUnavailable("Infobip GET /ccaas/1/conversations/{id}/messages: HTTP 503")
        return iter(self.messages.get(conversation_id, []))

    def list_conversations(self, *, since: datetime, until: datetime) -> Iterator[str]:
        if self.listing_down:
            raise SourceUnavailable("Infobip GET /ccaas/1/conversations: connection failed")
        return iter(sorted(self.messages))


def seed(svc: FakeServices, recording_id: str, conversation_id: str, *, archived: bool) -> None:
    """A recording in the catalog, taken to ARCHIVED (with an original) or left DISCOVERED."""
    at = svc.clock()
    meta = make_meta(recording_id, conversationId=conversation_id)
    svc.catalog.upsert_discovered([meta], at=at, actor="t")
    if not archived:
        return
    original = ArchivedObject(
        recording_id=recording_id,
        kind="original",
        bucket=svc.store.bucket,
        key=f"recordings/x/{recording_id}/original.wav",
        size_bytes=1,
        sha256="0" * 64,
        created_at=at,
        verified_at=at,
    )
    for to in (S.READY, S.DOWNLOADED):
        svc.catalog.transition(recording_id, to, actor="t", event=to.lower(), at=at)
    svc.catalog.transition(
        recording_id, S.UPLOADED, actor="t", event="uploaded", at=at, objects=[original]
    )
    svc.catalog.transition(
        recording_id, S.ARCHIVED, actor="t", event="archived", at=at, archived_at=at
    )


def message(ident: str, minute: int) -> dict[str, Any]:
    return {"id": ident, "createdAt": f"2026-01-05T09:{minute:02d}:00.000+00:00"}


def test_one_failing_conversation_does_not_stop_the_others(tmp_path: Path) -> None:
    svc = services(tmp_path)
    source = MessagingSource()
    svc.sources = {"conversations": source}
    try:
        seed(svc, "r1", "c1", archived=True)
        seed(svc, "r2", "c2", archived=True)
        seed(svc, "r3", "c3", archived=False)  # not archived yet: no transcript yet
        source.messages = {
            "c1": [message("a", 1)],
            "c2": [message("b", 2), message("c", 3)],
            "c3": [message("d", 4)],
        }
        source.down = {"c1"}
        source.unknown = {"c1"}  # Infobip answers that it has no such conversation

        report = archive_transcripts(svc, since=WINDOW[0], until=WINDOW[1])
        assert dict(report.outcomes) == {"failed": 1, "stored": 1}
        assert [c for c, _ in report.errors] == ["c1"]
        assert "NOT_FOUND" in report.errors[0][1]
        assert source.reads == ["c1", "c2"]
        assert svc.catalog.transcript("c1") is None
        stored = svc.catalog.transcript("c2")
        assert stored is not None and stored.message_count == 2
        assert svc.fake_store.version_ids(transcript_key("c2")) == [stored.version_id]

        source.down = source.unknown = set()
        again = archive_transcripts(svc, since=WINDOW[0], until=WINDOW[1])
        assert dict(again.outcomes) == {"stored": 1, "unchanged": 1}
        assert len(svc.fake_store.version_ids(transcript_key("c2"))) == 1
        assert svc.catalog.transcript("c1") is not None
    finally:
        svc.close()


def test_off_reads_nothing_and_a_source_without_messages_is_skipped(tmp_path: Path) -> None:
    svc = services(tmp_path, transcripts="off")
    source = MessagingSource()
    svc.sources = {"conversations": source}
    try:
        seed(svc, "r1", "c1", archived=True)
        assert not archive_transcripts(svc, since=WINDOW[0], until=WINDOW[1]).outcomes
        assert source.reads == []
    finally:
        svc.close()
    plain = services(tmp_path / "plain")  # the fakes' source lists no messages
    try:
        seed(plain, "r1", "c1", archived=True)
        assert plain.messages is None
        assert not archive_transcripts(plain, since=WINDOW[0], until=WINDOW[1]).outcomes
    finally:
        plain.close()


def test_all_reads_chats_too_and_survives_a_failed_listing(tmp_path: Path) -> None:
    svc = services(tmp_path, transcripts="all")
    source = MessagingSource()
    svc.sources = {"conversations": source}
    try:
        seed(svc, "r1", "c1", archived=True)
        source.messages = {"c1": [message("a", 1)], "chat": [message("b", 2)]}
        source.listing_down = True
        report = archive_transcripts(svc, since=WINDOW[0], until=WINDOW[1])
        assert dict(report.outcomes) == {"failed": 1, "stored": 1}
        assert report.errors[0][0] == "(conversations listing)"
        assert source.reads == ["c1"]
        source.listing_down = False
        again = archive_transcripts(svc, since=WINDOW[0], until=WINDOW[1])
        assert dict(again.outcomes) == {"stored": 1, "unchanged": 1}
        chat = svc.catalog.transcript("chat")
        assert chat is not None and chat.lock_mode is None  # no recording to follow
    finally:
        svc.close()


def test_an_unreachable_infobip_defers_the_rest_of_the_run(tmp_path: Path) -> None:
    svc = services(tmp_path)
    source = MessagingSource()
    svc.sources = {"conversations": source}
    try:
        for n in (1, 2, 3):
            seed(svc, f"r{n}", f"c{n}", archived=True)
        source.messages = {f"c{n}": [message(f"m{n}", n)] for n in (1, 2, 3)}
        source.down = {"c1", "c2", "c3"}
        report = archive_transcripts(svc, since=WINDOW[0], until=WINDOW[1])
        # One conversation spent the retry budget; the others are not asked this run.
        assert dict(report.outcomes) == {"failed": 1, "deferred": 2}
        assert source.reads == ["c1"]
    finally:
        svc.close()


def test_a_version_uploaded_by_a_killed_run_is_adopted_not_uploaded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between the upload and its record: the rerun records the version in the bucket
    (its audit event names it) instead of leaving it behind with no event."""
    svc = services(tmp_path)
    source = MessagingSource()
    svc.sources = {"conversations": source}
    try:
        seed(svc, "r1", "c1", archived=True)
        source.messages = {"c1": [message("a", 1)]}

        def killed(*_args: Any, **_kwargs: Any) -> None:
            raise CatalogUnavailable("catalog database is unreachable (connection refused)")

        with monkeypatch.context() as patch:
            patch.setattr(svc.catalog, "record_transcript", killed)
            with pytest.raises(CatalogUnavailable):
                archive_transcripts(svc, since=WINDOW[0], until=WINDOW[1])
        (orphan,) = svc.fake_store.version_ids(transcript_key("c1"))
        assert svc.catalog.transcript("c1") is None

        again = archive_transcripts(svc, since=WINDOW[0], until=WINDOW[1])
        assert dict(again.outcomes) == {"stored": 1}
        assert svc.fake_store.version_ids(transcript_key("c1")) == [orphan]
        stored = svc.catalog.transcript("c1")
        assert stored is not None and stored.version_id == orphan
        events = [e for e in svc.catalog.audit_events() if e.event == "transcript_archived"]
        assert len(events) == 1
    finally:
        svc.close()
