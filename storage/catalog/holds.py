"""Statements about legal holds: which recordings a hold covers, which holds cover a recording.

A hold's scope is matched against the catalog at the time of asking, so a recording discovered
after the hold was placed is covered as soon as it is in the catalog. A ``participant`` hold
covers every recording of every conversation in which that participant (identity, compared
case-insensitively, or participant id) took part: the other legs carry their voice too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal, cast, get_args

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from models.errors import ConfigError
from models.tables import LegalHold, Recording

HoldScope = Literal["conversation", "call", "participant"]
HOLD_SCOPES: tuple[str, ...] = get_args(HoldScope)


def check_scope(kind: str, value: str) -> HoldScope:
    if kind not in HOLD_SCOPES:
        raise ConfigError(f"unknown hold scope {kind!r}: use one of {', '.join(HOLD_SCOPES)}")
    if not value.strip():
        raise ConfigError(f"the {kind} of a legal hold must not be empty")
    if len(value) > 256:
        raise ConfigError(f"the {kind} of a legal hold is longer than 256 characters")
    return kind  # type: ignore[return-value]  # checked against HOLD_SCOPES above


def scope_for_audit(kind: str, value: str) -> dict[str, str]:
    """The scope as the audit log may carry it: ids as they are, a person only as a hash
    (the audit log is never erased, so it holds no personal data)."""
    if kind == "participant":
        digest = hashlib.sha256(value.strip().lower().encode("utf-8")).hexdigest()
        return {"scope_kind": kind, "scope_sha256": digest}
    return {"scope_kind": kind, "scope_value": value}


def _participant(value: str) -> Any:
    return sa.or_(
        sa.func.lower(col(Recording.participant_identity)) == value.strip().lower(),
        col(Recording.participant_id) == value.strip(),
    )


def covered_condition(kind: str, value: str) -> Any:
    """WHERE clause on ``recordings`` for the recordings one hold covers."""
    if kind == "conversation":
        return col(Recording.conversation_id) == value
    if kind == "call":
        return col(Recording.call_id) == value
    conversations = sa.select(col(Recording.conversation_id)).where(
        _participant(value), col(Recording.conversation_id).is_not(None)
    )
    return sa.or_(_participant(value), col(Recording.conversation_id).in_(conversations))


def covered_recording_ids(session: Session, hold: LegalHold) -> list[str]:
    stmt = (
        sa.select(col(Recording.recording_id))
        .where(covered_condition(hold.scope_kind, hold.scope_value))
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
    table = cast(sa.Table, Recording.__table__)  # type: ignore[attr-defined]
    other = table.alias("other").c
    same_conversation_people = sa.select(sa.func.lower(other.participant_identity)).where(
        other.conversation_id == row.conversation_id, other.participant_identity.is_not(None)
    )
    same_conversation_ids = sa.select(other.participant_id).where(
        other.conversation_id == row.conversation_id, other.participant_id.is_not(None)
    )
    value = col(LegalHold.scope_value)
    kind = col(LegalHold.scope_kind)
    participant_match = sa.or_(
        sa.func.lower(value) == (row.participant_identity or "").lower(),
        value == (row.participant_id or ""),
        sa.func.lower(value).in_(same_conversation_people),
        value.in_(same_conversation_ids),
    )
    stmt = sa.select(col(LegalHold.id)).where(
        col(LegalHold.released_at).is_(None),
        sa.or_(
            sa.and_(kind == "conversation", value == (row.conversation_id or "")),
            sa.and_(kind == "call", value == (row.call_id or "")),
            sa.and_(kind == "participant", participant_match),
        ),
    )
    if exclude:
        stmt = stmt.where(col(LegalHold.id).not_in(list(exclude)))
    return sorted(i for i in session.scalars(stmt) if i is not None)


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
