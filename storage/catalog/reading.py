"""The catalog's read side for auditors: searches, one recording's file, the audit trail.

Mixed into ``storage.catalog.store.Catalog`` like the retention side; every method is one
short read-only transaction and returns detached rows. This is what ``models.ports.
CatalogReader`` promises, so the CLI and the auditor API ask the same questions the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import replace

from sqlalchemy.orm import Session

from models.errors import ConfigError, RecordingNotFound
from models.search import MIN_PREFIX, PREFIX_MARKS, AuditQuery, RecordingQuery, SearchResult
from models.tables import ArchivedObject, AuditEvent, DeletionInProgress, Recording
from storage.catalog import queries, search

_PAGE = 500


class ReadingCatalog:
    """Auditor reads. ``_tx`` is the catalog's one-transaction session."""

    def _tx(self, *, write: bool = False) -> AbstractContextManager[Session]:
        raise NotImplementedError  # provided by Catalog

    def find(self, query: RecordingQuery, *, widen: bool = True) -> SearchResult:
        """Recordings matching ``query`` with their objects, and how many match in all.
        ``widen``: when whole ids match nothing, match them as prefixes instead."""
        with self._tx() as session:
            result = _find(session, query)
            retry = query.as_prefixes() if widen and result.total == 0 else None
            if retry is not None:
                found = _find(session, retry)
                names = tuple(n for n, m in query.id_filters.items() if not m.prefix)
                result = SearchResult(found.rows, found.total, names)
        return result

    def iter_found(self, query: RecordingQuery) -> Iterator[tuple[Recording, list[ArchivedObject]]]:
        """Every recording matching ``query`` in its order, a page per transaction."""
        offset = query.offset
        while True:
            page = replace(query, offset=offset, limit=_PAGE)
            with self._tx() as session:
                rows = _find(session, page, count=False).rows
            yield from rows
            if len(rows) < _PAGE:
                return
            offset += _PAGE

    def resolve_recording_id(self, text: str) -> str:
        """The recording id ``text`` names: the whole id, or the one id starting with it."""
        wanted = text.strip()
        for mark in PREFIX_MARKS:
            wanted = wanted.removesuffix(mark)
        if not wanted:
            raise ConfigError("give a recording id (or the start of one)")
        with self._tx() as session:
            if session.get(Recording, wanted) is not None:
                return wanted
            if len(wanted) < MIN_PREFIX:
                raise RecordingNotFound(f"no recording has the id {wanted!r}")
            found = search.recording_ids_starting(session, wanted, limit=6)
        if not found:
            raise RecordingNotFound(f"no recording has an id that is or starts with {wanted!r}")
        if len(found) > 1:
            shown = ", ".join(found[:5]) + (", …" if len(found) > 5 else "")
            raise ConfigError(f"{wanted!r} starts more than one recording id ({shown}): give more")
        return found[0]

    def history(self, recording_id: str) -> list[AuditEvent]:
        """The recording's audit events in chain order."""
        with self._tx() as session:
            return queries.audit_events(session, recording_id)

    def audit_log(self, query: AuditQuery) -> list[AuditEvent]:
        with self._tx() as session:
            return search.find_audit_events(session, query)

    def deletion_in_progress(self, recording_id: str) -> DeletionInProgress | None:
        with self._tx() as session:
            return session.get(DeletionInProgress, recording_id)


def _find(session: Session, query: RecordingQuery, *, count: bool = True) -> SearchResult:
    rows = search.find_recordings(session, query)
    # A first page that is not full is everything: counting would run the search again.
    whole = query.offset == 0 and (query.limit is None or len(rows) < query.limit)
    total = len(rows) if not count or whole else search.count_recordings(session, query)
    objects = queries.objects_by_recording(session, [r.recording_id for r in rows])
    return SearchResult([(r, objects[r.recording_id]) for r in rows], total)
