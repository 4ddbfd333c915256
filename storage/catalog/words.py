"""The words of participant names (``participant_words``): written with a new recording, gone
with its tombstone, read by name searches. Names are never refreshed after the first listing,
so these two moments are the only ones."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from models.search import name_words
from models.tables import ParticipantWord


def add_words(session: Session, recording_id: str, name: str | None) -> None:
    words = name_words(name)
    if words:
        session.execute(
            sa.insert(ParticipantWord),
            [{"word": w, "recording_id": recording_id} for w in words],
        )


def clear_words(session: Session, recording_id: str) -> None:
    session.execute(
        sa.delete(ParticipantWord).where(col(ParticipantWord.recording_id) == recording_id)
    )
