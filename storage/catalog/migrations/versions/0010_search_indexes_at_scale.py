"""Searches over a catalog of a million recordings (``bench/bench_search.py --rows 1000000``):

- ``(state, started_at)``: a status over a period reads just that status's rows of the period,
  not every row of the period;
- ``(transferred_from_queue, media_type)`` and ``(transferred_to_queue, media_type)`` in place
  of the queue indexes of 0009: a queue and a media type together read only the rows that
  have both (a queue alone still uses the index's first column);
- ``(participant_id, participant_type, conversation_id)``: an agent's conversations from the
  index alone, without visiting each of the agent's legs;
- ``audit_events (event, at)`` in place of 0009's index on the event: one type of event over a
  period;
- ``recording_totals``: the number of recordings, kept by the insert that adds them, so a
  search with no filter does not count the whole table for its total.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_recordings_state_started_at", "recordings", ["state", "started_at"])
    op.create_index(
        "ix_recordings_from_queue_media_type",
        "recordings",
        ["transferred_from_queue", "media_type"],
    )
    op.create_index(
        "ix_recordings_to_queue_media_type", "recordings", ["transferred_to_queue", "media_type"]
    )
    op.drop_index("ix_recordings_transferred_from_queue", table_name="recordings")
    op.drop_index("ix_recordings_transferred_to_queue", table_name="recordings")
    op.create_index(
        "ix_recordings_participant_conversation",
        "recordings",
        ["participant_id", "participant_type", "conversation_id"],
    )
    op.create_index("ix_audit_events_event_at", "audit_events", ["event", "at"])
    op.drop_index("ix_audit_events_event", table_name="audit_events")
    op.create_table(
        "recording_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recordings", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO recording_totals (id, recordings) SELECT 1, count(*) FROM recordings")


def downgrade() -> None:
    op.drop_table("recording_totals")
    op.create_index("ix_audit_events_event", "audit_events", ["event"])
    op.drop_index("ix_audit_events_event_at", table_name="audit_events")
    op.drop_index("ix_recordings_participant_conversation", table_name="recordings")
    op.create_index(
        "ix_recordings_transferred_from_queue", "recordings", ["transferred_from_queue"]
    )
    op.create_index("ix_recordings_transferred_to_queue", "recordings", ["transferred_to_queue"])
    op.drop_index("ix_recordings_to_queue_media_type", table_name="recordings")
    op.drop_index("ix_recordings_from_queue_media_type", table_name="recordings")
    op.drop_index("ix_recordings_state_started_at", table_name="recordings")
