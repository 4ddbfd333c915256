"""Statements about legal holds: which recordings a hold covers, which holds cover a recording.

A hold's scope is matched against the catalog at the time of asking, so a recording discovered
after the hold was placed is covered as soon as it is in the catalog. A ``participant`` hold
covers every recording of every conversation in which that participant (identity, compared
case-insensitively, or participant id) took part: the other legs carry their voice too. Once
the person's own leg has expired its identity is gone, and the keyed hash the tombstone keeps
(``participant_identity_hmac``, matched by the hold's ``scope_hmac``) still finds the
conversation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from models.errors import ConfigError
from models.identity import identity_hmac, identity_variants, normalize_identity
from models.tables import LegalHold, Recording

HoldScope = Literal["conversation", "call", "participant"]
# The scope_value of a released participant hold once its person was erased (the keyed hash
# in scope_hmac stays): no identity, in no spelling.
ERASED_SCOPE = "(erased)"
HOLD_SCOPES: tuple[str, ...] = get_args(HoldScope)


def check_scope(kind: str, value: str) -> HoldScope:
    if kind not in HOLD_SCOPES:
        raise ConfigError(f"unknown hold scope {kind!r}: use one of {', '.join(HOLD_SCOPES)}")
    if not value.strip():
        raise ConfigError(f"the {kind} of a legal hold must not be empty")
    if len(value) > 256:
        raise ConfigError(f"the {kind} of a legal hold is longer than 256 characters")
    return kind  # type: ignore[return-value]  # checked against HOLD_SCOPES above


def scope_for_audit(kind: str, value: str, *, identity_key: str | None = None) -> dict[str, str]:
    """The scope as the audit log may carry it: ids as they are, a person only by the keyed
    hash of their identity's normal form (the audit log is never erased, so it holds no
    personal data); ``scope_sha256`` is the unkeyed hash older versions wrote."""
    if kind == "participant":
        if identity_key is not None:
            return {"scope_kind": kind, "scope_hmac": identity_hmac(value, key=identity_key)}
        digest = hashlib.sha256(value.strip().lower().encode("utf-8")).hexdigest()
        return {"scope_kind": kind, "scope_sha256": digest}
    return {"scope_kind": kind, "scope_value": value}


def participant_condition(value: str, scope_hmac: str | None = None) -> Any:
    """WHERE clause: the recording's participant is ``value`` (identity in any spelling of
    its normal form, or the participant id), or, on a tombstone whose identity is cleared,
    the person whose keyed hash is ``scope_hmac``."""
    person = sa.or_(
        sa.func.lower(col(Recording.participant_identity)).in_(identity_variants(value)),
        col(Recording.participant_id) == value.strip(),
    )
    if scope_hmac is None:
        return person
    return sa.or_(person, col(Recording.participant_identity_hmac) == scope_hmac)


_participant = participant_condition


def covered_condition(kind: str, value: str, scope_hmac: str | None = None) -> Any:
    """WHERE clause on ``recordings`` for the recordings one hold covers."""
    if kind == "conversation":
        return col(Recording.conversation_id) == value
    if kind == "call":
        return col(Recording.call_id) == value
    conversations = sa.select(col(Recording.conversation_id)).where(
        _participant(value, scope_hmac), col(Recording.conversation_id).is_not(None)
    )
    return sa.or_(
        _participant(value, scope_hmac), col(Recording.conversation_id).in_(conversations)
    )


def covered_recording_ids(session: Session, hold: LegalHold) -> list[str]:
    stmt = (
        sa.select(col(Recording.recording_id))
        .where(covered_condition(hold.scope_kind, hold.scope_value, hold.scope_hmac))
        .order_by(col(Recording.recording_id))
    )
    return list(session.scalars(stmt))


def active_holds(session: Session) -> list[LegalHold]:
    stmt = (
        sa.select(LegalHold).where(col(LegalHold.released_at).is_(None)).order_by(col(LegalHold.id))
    )
    return list(session.scalars(stmt))


def active_holds_by_recording(session: Session) -> dict[str, list[int]]:
    """recording_id → ids of the active holds that cover it (only covered recordings appear)."""
    found: dict[str, list[int]] = {}
    for hold in active_holds(session):
        for recording_id in covered_recording_ids(session, hold):
            found.setdefault(recording_id, []).append(hold.id or 0)
    return found


def holds_covering(session: Session, row: Recording, *, exclude: Sequence[int] = ()) -> list[int]:
    """Ids of the active holds covering ``row``, in one statement (the last check before a
    deletion, so it reads the committed state rather than a plan)."""
    value = col(LegalHold.scope_value)
    kind = col(LegalHold.scope_kind)
    stmt = sa.select(LegalHold).where(
        col(LegalHold.released_at).is_(None),
        sa.or_(
            sa.and_(kind == "conversation", value == (row.conversation_id or "")),
            sa.and_(kind == "call", value == (row.call_id or "")),
            kind == "participant",
        ),
    )
    if exclude:
        stmt = stmt.where(col(LegalHold.id).not_in(list(exclude)))
    found = list(session.scalars(stmt))
    people: set[str] = set()
    ids: set[str] = set()
    hmacs: set[str] = set()
    if any(h.scope_kind == "participant" for h in found):
        # Every leg of the conversation (its own included): the other legs carry their voice.
        legs: Any = col(Recording.recording_id) == row.recording_id
        if row.conversation_id is not None:
            legs = col(Recording.conversation_id) == row.conversation_id
        triples = session.execute(
            sa.select(
                col(Recording.participant_identity),
                col(Recording.participant_id),
                col(Recording.participant_identity_hmac),
            ).where(legs)
        )
        own = (row.participant_identity, row.participant_id, row.participant_identity_hmac)
        for identity, participant_id, keyed in [*triples, own]:
            if identity:
                people.add(normalize_identity(identity))
            if participant_id:
                ids.add(participant_id)
            if keyed:
                hmacs.add(keyed)
    return sorted(
        h.id
        for h in found
        if h.id is not None
        and (
            h.scope_kind != "participant"
            or normalize_identity(h.scope_value) in people
            or h.scope_value.strip() in ids
            or (h.scope_hmac is not None and h.scope_hmac in hmacs)
        )
    )


def find_holds(session: Session, ref: str, *, active_only: bool) -> list[LegalHold]:
    """Holds named by ``ref``: a hold id (digits) or a case reference."""
    text = ref.strip()
    cond: Any = col(LegalHold.case_ref) == text
    if text.isdigit():
        cond = sa.or_(cond, col(LegalHold.id) == int(text))
    stmt = sa.select(LegalHold).where(cond).order_by(col(LegalHold.id))
    if active_only:
        stmt = stmt.where(col(LegalHold.released_at).is_(None))
    return list(session.scalars(stmt))
