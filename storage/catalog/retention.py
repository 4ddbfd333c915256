"""The catalog's retention side: legal holds, deletion evidence and tombstones.

Mixed into ``storage.catalog.store.Catalog``; every method is one short transaction like the rest of
the catalog, and every change commits together with its audit event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from models.errors import CatalogError, CatalogLocked, ConfigError
from models.identity import identity_hmac, identity_variants, normalize_identity
from models.states import RecordingState, check_transition
from models.tables import (
    ArchivedObject,
    DeletionInProgress,
    ErasedIdentity,
    LegalHold,
    LegalHoldRecording,
    Recording,
)
from storage.catalog import holds, queries, words
from storage.catalog.audit import PendingEvent, append_events
from storage.catalog.rows import require_aware

S = RecordingState
# Personal data a tombstone must not keep. Ids of the interaction (recording, conversation,
# call), dates, hashes, sizes, media type and the rule stay: they prove that the recording
# existed and was deleted on time. The file name embeds the participant's identity.
TOMBSTONE_CLEARED = (
    "participant_id",
    "participant_identity",
    "participant_name",
    "filename",
    "sftp_path",
    "transferred_from",
    "transferred_to",
    "raw",
    "last_error",
)
_PAGE = 500
# Key of the PostgreSQL advisory lock that orders hold placements and deletion starts (on
# SQLite every writing transaction holds the database's write lock already).
_HOLD_GATE_KEY = 0x7265637661756C68


def _hold_gate(session: Session) -> None:
    """Taken first in a transaction that places a hold or starts a deletion, so the two never
    interleave: a deletion either sees the hold, or the hold sees the deletion's marker."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_HOLD_GATE_KEY)))


@dataclass(frozen=True)
class DeletionGate:
    """What a deletion's own transaction saw: the row, and the holds covering it then. With no
    hold, a marker now stands for the deletion until it is recorded or ended."""

    row: Recording
    holds: list[int]
    checked_at: datetime
    holder: str
    kind: str
    placed_while_deleting: list[int] = field(default_factory=list)

    def evidence(self, placed_while_deleting: Sequence[int] = ()) -> dict[str, Any]:
        """The certificate's ``legal_holds``: the hold status observed when the deletion was
        decided, and any hold placed while it ran (that hold waited for it)."""
        return {
            "status": "none active" if not self.holds else "active",
            "active": list(self.holds),
            "checked_at": self.checked_at.isoformat().replace("+00:00", "Z"),
            "checked_in": "the deletion's own transaction, ordered with hold placement",
            "placed_while_deleting": list(placed_while_deleting),
        }


class RetentionCatalog:
    """Holds and deletion evidence. ``_tx`` is the catalog's one-transaction session."""

    def _tx(self, *, write: bool = False) -> AbstractContextManager[Session]:
        raise NotImplementedError  # provided by Catalog

    # --- legal holds ---------------------------------------------------------------------------

    def place_hold(
        self,
        *,
        scope_kind: str,
        scope_value: str,
        reason: str,
        case_ref: str,
        actor: str,
        at: datetime,
        identity_key: str | None = None,
    ) -> LegalHold:
        """``identity_key``: the audit event names a participant scope by its keyed hash."""
        require_aware("at", at)
        kind = holds.check_scope(scope_kind, scope_value)
        for name, text, limit in (("--reason", reason, 2000), ("--case", case_ref, 256)):
            if not text.strip():
                raise ConfigError(f"{name} must not be empty: a hold needs a reason and a case")
            if len(text) > limit:
                raise ConfigError(f"{name} is longer than {limit} characters")
        value = scope_value.strip()
        scope_hmac = None
        if kind == "participant" and identity_key is not None:
            scope_hmac = identity_hmac(value, key=identity_key)
        hold = LegalHold(
            scope_kind=kind,
            scope_value=normalize_identity(value) if kind == "participant" else value,
            scope_hmac=scope_hmac,
            reason=reason.strip(),
            case_ref=case_ref.strip(),
            placed_by=actor,
            placed_at=at,
        )
        with self._tx(write=True) as session:
            _hold_gate(session)
            session.add(hold)
            session.flush()
            detail = {
                "hold_id": hold.id,
                **holds.scope_for_audit(kind, hold.scope_value, identity_key=identity_key),
                "case": hold.case_ref,
                "reason": hold.reason,
            }
            append_events(session, [PendingEvent("legal_hold_placed", actor, at, detail=detail)])
        return hold

    def release_hold(self, hold_id: int, *, actor: str, at: datetime) -> LegalHold:
        require_aware("at", at)
        with self._tx(write=True) as session:
            stmt = sa.select(LegalHold).where(col(LegalHold.id) == hold_id).with_for_update()
            hold = session.scalars(stmt).first()
            if hold is None:
                raise ConfigError(f"no legal hold with id {hold_id}: see recvault hold list")
            if hold.released_at is not None:
                raise ConfigError(
                    f"legal hold {hold_id} was already released at {hold.released_at.isoformat()}"
                )
            hold.released_at = at
            hold.released_by = actor
            session.flush()
            detail = {"hold_id": hold.id, "case": hold.case_ref}
            append_events(session, [PendingEvent("legal_hold_released", actor, at, detail=detail)])
        return hold

    def erase_hold_scopes(
        self, identity_hmac_: str, *, identity_key: str, actor: str, at: datetime, request_id: str
    ) -> tuple[list[int], list[int]]:
        """The participant holds on the person whose keyed hash is ``identity_hmac_``: released
        ones lose the identity (``scope_value`` becomes ``holds.ERASED_SCOPE``, the keyed hash
        stays for the audit check); active ones keep it, since the hold still needs it to
        cover that person's recordings. Returns (erased, kept) hold ids."""
        require_aware("at", at)
        erased: list[int] = []
        kept: list[int] = []
        with self._tx(write=True) as session:
            stmt = (
                sa.select(LegalHold)
                .where(
                    col(LegalHold.scope_kind) == "participant",
                    col(LegalHold.scope_value) != holds.ERASED_SCOPE,
                )
                .order_by(col(LegalHold.id))
                .with_for_update()
            )
            for hold in session.scalars(stmt):
                keyed = hold.scope_hmac or identity_hmac(hold.scope_value, key=identity_key)
                if keyed != identity_hmac_:
                    continue
                if hold.released_at is None:
                    kept.append(hold.id or 0)
                    continue
                hold.scope_value, hold.scope_hmac = holds.ERASED_SCOPE, keyed
                erased.append(hold.id or 0)
            if erased:
                session.flush()
                detail = {"hold_ids": erased, "request_id": request_id}
                event = PendingEvent("legal_hold_scope_erased", actor, at, detail=detail)
                append_events(session, [event])
        return erased, kept

    def find_holds(self, ref: str, *, active_only: bool = True) -> list[LegalHold]:
        with self._tx() as session:
            return holds.find_holds(session, ref, active_only=active_only)

    def list_holds(self, *, include_released: bool = False) -> list[LegalHold]:
        with self._tx() as session:
            stmt = sa.select(LegalHold).order_by(col(LegalHold.id))
            if not include_released:
                stmt = stmt.where(col(LegalHold.released_at).is_(None))
            return list(session.scalars(stmt))

    def hold_covered_ids(self, hold: LegalHold) -> list[str]:
        """The recordings ``hold``'s scope covers now."""
        with self._tx() as session:
            return holds.covered_recording_ids(session, hold)

    def hold_links(self, hold_id: int) -> list[LegalHoldRecording]:
        with self._tx() as session:
            stmt = (
                sa.select(LegalHoldRecording)
                .where(col(LegalHoldRecording.hold_id) == hold_id)
                .order_by(col(LegalHoldRecording.recording_id))
            )
            return list(session.scalars(stmt))

    def record_hold_applied(
        self, hold_id: int, recording_id: str, *, versions: int, at: datetime, actor: str
    ) -> None:
        """Notes that ``hold_id`` put ``versions`` object versions of the recording under S3
        legal hold (again: the count is updated)."""
        require_aware("at", at)
        with self._tx(write=True) as session:
            link = session.get(LegalHoldRecording, (hold_id, recording_id))
            if link is None:
                session.add(
                    LegalHoldRecording(
                        hold_id=hold_id, recording_id=recording_id, versions=versions, applied_at=at
                    )
                )
            else:
                link.versions, link.applied_at = versions, at
            session.flush()
            detail = {"hold_id": hold_id, "versions": versions, "s3_legal_hold": "ON"}
            append_events(
                session,
                [PendingEvent("legal_hold_applied", actor, at, recording_id, detail=detail)],
            )

    def active_holds_by_recording(self) -> dict[str, list[int]]:
        with self._tx() as session:
            return holds.active_holds_by_recording(session)

    def holds_covering(self, recording_id: str, *, exclude: Sequence[int] = ()) -> list[int]:
        with self._tx() as session:
            row = session.get(Recording, recording_id)
            if row is None:
                raise CatalogError(f"recording {recording_id} is not in the catalog")
            return holds.holds_covering(session, row, exclude=exclude)

    # --- deletions in progress ------------------------------------------------------------------

    def begin_deletion(
        self, recording_id: str, *, kind: str, holder: str, at: datetime, lease_s: int
    ) -> DeletionGate:
        """Checks the holds covering the recording and, when there are none, marks its deletion
        in progress, in one transaction ordered with hold placement. Raises ``CatalogLocked``
        when another live deletion of the same recording holds the marker."""
        require_aware("at", at)
        with self._tx(write=True) as session:
            _hold_gate(session)
            row = queries.lock_row(session, recording_id)
            covering = holds.holds_covering(session, row)
            if not covering:
                marker = session.get(DeletionInProgress, recording_id)
                if marker is not None and marker.holder != holder and marker.expires_at > at:
                    raise CatalogLocked(
                        f"recording {recording_id} is being deleted by {marker.holder} "
                        f"(until {marker.expires_at.isoformat()})"
                    )
                if marker is None:
                    marker = DeletionInProgress(
                        recording_id=recording_id,
                        kind=kind,
                        holder=holder,
                        started_at=at,
                        expires_at=at,
                    )
                marker.kind, marker.holder, marker.started_at = kind, holder, at
                marker.expires_at = at + timedelta(seconds=lease_s)
                session.add(marker)
                session.flush()
        return DeletionGate(row=row, holds=covering, checked_at=at, holder=holder, kind=kind)

    def end_deletion(self, recording_id: str, *, holder: str) -> None:
        """Removes the marker of a deletion that did not happen (or failed)."""
        with self._tx(write=True) as session:
            _end_marker(session, recording_id, holder)

    def deletions_in_progress(self, recording_ids: Sequence[str]) -> list[DeletionInProgress]:
        with self._tx() as session:
            stmt = sa.select(DeletionInProgress).where(
                col(DeletionInProgress.recording_id).in_(list(recording_ids))
            )
            return list(session.scalars(stmt))

    # --- candidates ------------------------------------------------------------------------------

    def iter_with_objects(
        self,
        states: Iterable[RecordingState],
        *,
        expired_with_source: bool = False,
        page: int = _PAGE,
    ) -> Iterator[tuple[Recording, list[ArchivedObject]]]:
        """Recordings in ``states`` with their objects, by recording id, a page per transaction;
        ``expired_with_source`` adds the EXPIRED recordings whose source copy is not deleted."""
        wanted = sorted(RecordingState(s).value for s in states)
        which: Any = col(Recording.state).in_(wanted)
        if expired_with_source:
            which = sa.or_(
                which,
                sa.and_(
                    col(Recording.state) == S.EXPIRED.value,
                    col(Recording.source_deleted_at).is_(None),
                ),
            )
        after = ""
        while True:
            with self._tx() as session:
                stmt = (
                    sa.select(Recording)
                    .where(which, col(Recording.recording_id) > after)
                    .order_by(col(Recording.recording_id))
                    .limit(page)
                )
                rows = list(session.scalars(stmt))
                objects = queries.objects_by_recording(session, [r.recording_id for r in rows])
            if not rows:
                return
            for row in rows:
                yield row, objects[row.recording_id]
            after = rows[-1].recording_id

    def recordings_of_participant(
        self, identity: str
    ) -> list[tuple[Recording, list[ArchivedObject]]]:
        """The recordings whose participant identity is ``identity``, in any spelling of its
        normal form (E.164 for phone numbers, case for the rest)."""
        with self._tx() as session:
            stmt = (
                sa.select(Recording)
                .where(
                    sa.func.lower(col(Recording.participant_identity)).in_(
                        identity_variants(identity)
                    )
                )
                .order_by(col(Recording.started_at), col(Recording.recording_id))
            )
            rows = list(session.scalars(stmt))
            objects = queries.objects_by_recording(session, [r.recording_id for r in rows])
        return [(row, objects[row.recording_id]) for row in rows]

    def recordings_of_conversations(
        self, conversation_ids: Iterable[str]
    ) -> list[tuple[Recording, list[ArchivedObject]]]:
        """Every leg of the given conversations."""
        wanted = sorted(set(conversation_ids))
        if not wanted:
            return []
        with self._tx() as session:
            stmt = (
                sa.select(Recording)
                .where(col(Recording.conversation_id).in_(wanted))
                .order_by(col(Recording.started_at), col(Recording.recording_id))
            )
            rows = list(session.scalars(stmt))
            objects = queries.objects_by_recording(session, [r.recording_id for r in rows])
        return [(row, objects[row.recording_id]) for row in rows]

    # --- erased identities -----------------------------------------------------------------------

    def remember_erased(self, identity_hmac: str, *, at: datetime, request_id: str) -> None:
        """Notes (or moves forward) when this person's recordings were erased."""
        require_aware("at", at)
        with self._tx(write=True) as session:
            row = session.get(ErasedIdentity, identity_hmac)
            if row is None:
                session.add(
                    ErasedIdentity(identity_hmac=identity_hmac, erased_at=at, request_id=request_id)
                )
            elif row.erased_at < at:
                row.erased_at, row.request_id = at, request_id
            session.flush()

    def erased_identities(self, identity_hmacs: Iterable[str]) -> dict[str, datetime]:
        """identity hmac → when that person's recordings were erased, for those erased."""
        wanted = sorted(set(identity_hmacs))
        found: dict[str, datetime] = {}
        with self._tx() as session:
            for start in range(0, len(wanted), _PAGE):
                stmt = sa.select(ErasedIdentity).where(
                    col(ErasedIdentity.identity_hmac).in_(wanted[start : start + _PAGE])
                )
                found.update({r.identity_hmac: r.erased_at for r in session.scalars(stmt)})
        return found

    # --- deletion evidence -----------------------------------------------------------------------

    def record_source_deletion(
        self,
        recording_id: str,
        *,
        sha256: str,
        at: datetime,
        actor: str,
        certificate: dict[str, Any],
        gate: DeletionGate | None = None,
    ) -> Recording:
        """ARCHIVED → SOURCE_DELETED with the time and the verified hash, and its certificate.
        An EXPIRED recording (its source copy outlived the archive) stays EXPIRED. ``gate``:
        the deletion's marker goes, and the certificate gets the hold status it observed."""
        require_aware("at", at)
        with self._tx(write=True) as session:
            row = queries.lock_row(session, recording_id)
            _close_gate(session, row, gate, certificate)
            current = RecordingState(row.state)
            if current is not S.EXPIRED:
                check_transition(current, S.SOURCE_DELETED)
                row.state = S.SOURCE_DELETED
            elif row.source_deleted_at is not None:
                raise CatalogError(f"recording {recording_id}: the source copy is already deleted")
            row.source_deleted_at = at
            row.source_deleted_by = actor[:128]
            row.source_deleted_sha256 = sha256
            row.updated_at = at
            session.flush()
            append_events(
                session,
                [
                    PendingEvent(
                        "source_deleted", actor, at, recording_id, current, row.state, certificate
                    )
                ],
            )
        return row

    def record_versions_deleted(
        self,
        recording_id: str,
        *,
        versions: Sequence[tuple[str, str | None]],
        at: datetime,
        actor: str,
        event: str,
        detail: dict[str, Any],
        gate: DeletionGate | None = None,
    ) -> None:
        """Evidence of object versions deleted without finishing the recording's expiry."""
        require_aware("at", at)
        with self._tx(write=True) as session:
            if gate is not None:
                _close_gate(session, queries.lock_row(session, recording_id), gate, detail)
            _mark_deleted(session, recording_id, versions, at)
            append_events(session, [PendingEvent(event, actor, at, recording_id, detail=detail)])

    def record_expiry(
        self,
        recording_id: str,
        *,
        versions: Sequence[tuple[str, str | None]],
        retain_until: datetime | None,
        reason: str,
        at: datetime,
        actor: str,
        event: str,
        certificate: dict[str, Any],
        gate: DeletionGate | None = None,
        source_deleted_at: datetime | None = None,
        identity_key: str | None = None,
    ) -> Recording:
        """→ EXPIRED: the objects are marked deleted and the row becomes a tombstone;
        ``source_deleted_at``: the source copy went in the same deletion (an erasure of a
        recording that was never archived); ``identity_key``: the tombstone keeps the keyed
        hash of the identity it clears."""
        require_aware("at", at)
        require_aware("retain_until", retain_until)
        with self._tx(write=True) as session:
            row = queries.lock_row(session, recording_id)
            _close_gate(session, row, gate, certificate)
            current = RecordingState(row.state)
            check_transition(current, S.EXPIRED)
            _mark_deleted(session, recording_id, versions, at, everything=True)
            if identity_key is not None and row.participant_identity:
                row.participant_identity_hmac = identity_hmac(
                    row.participant_identity, key=identity_key
                )
            for name in TOMBSTONE_CLEARED:
                setattr(row, name, None)
            words.clear_words(session, recording_id)
            row.state = S.EXPIRED
            if source_deleted_at is not None:
                row.source_deleted_at = source_deleted_at
                row.source_deleted_by = actor[:128]
            row.expired_at = at
            row.retain_until = retain_until
            row.expired_reason = reason[:512]
            row.updated_at = at
            row.claimed_by = row.claimed_until = None
            session.flush()
            append_events(
                session,
                [PendingEvent(event, actor, at, recording_id, current, row.state, certificate)],
            )
        return row


def _end_marker(session: Session, recording_id: str, holder: str) -> None:
    session.execute(
        sa.delete(DeletionInProgress).where(
            col(DeletionInProgress.recording_id) == recording_id,
            col(DeletionInProgress.holder) == holder,
        )
    )


def _close_gate(
    session: Session, row: Recording, gate: DeletionGate | None, certificate: dict[str, Any]
) -> None:
    """Ends the deletion's marker and writes the hold status into its certificate: what the
    deletion's own transaction saw, and the holds placed since (they waited for it)."""
    if gate is None:
        return
    _end_marker(session, row.recording_id, gate.holder)
    since = holds.holds_covering(session, row, exclude=gate.holds)
    certificate["legal_holds"] = gate.evidence(since)


def _mark_deleted(
    session: Session,
    recording_id: str,
    versions: Sequence[tuple[str, str | None]],
    at: datetime,
    *,
    everything: bool = False,
) -> None:
    gone = set(versions)
    for obj in queries.objects_by_recording(session, [recording_id])[recording_id]:
        if obj.deleted_at is None and (everything or (obj.key, obj.version_id) in gone):
            obj.deleted_at = at
            session.add(obj)
    session.flush()
