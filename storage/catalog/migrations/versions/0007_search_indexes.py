"""Search indexes: what the auditor's searches need to stay fast on a large catalog.

- ``lower(participant_identity)`` and ``lower(participant_name)``: identity searches compare
  the lower-cased identity, name searches its lower-cased start;
- the queues a recording was transferred from or to, and the audit events' type;
- on PostgreSQL only, ``text_pattern_ops`` indexes on the ids, so ``LIKE 'ab12%'`` (an id
  prefix) uses an index whatever the database's collation. SQLite compares id prefixes as a
  range, which its ordinary indexes already serve.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PATTERN_INDEXES = (
    ("ix_recordings_recording_id_pattern", "recordings", "recording_id"),
    ("ix_recordings_conversation_id_pattern", "recordings", "conversation_id"),
    ("ix_recordings_call_id_pattern", "recordings", "call_id"),
    ("ix_audit_events_recording_id_pattern", "audit_events", "recording_id"),
)


def upgrade() -> None:
    op.create_index(
        "ix_recordings_lower_participant_identity",
        "recordings",
        [sa.text("lower(participant_identity)")],
    )
    op.create_index(
        "ix_recordings_lower_participant_name", "recordings", [sa.text("lower(participant_name)")]
    )
    op.create_index(
        "ix_recordings_transferred_from_queue", "recordings", ["transferred_from_queue"]
    )
    op.create_index("ix_recordings_transferred_to_queue", "recordings", ["transferred_to_queue"])
    op.create_index("ix_audit_events_event", "audit_events", ["event"])
    if op.get_bind().dialect.name == "postgresql":
        for name, table, column in PATTERN_INDEXES:
            op.create_index(name, table, [column], postgresql_ops={column: "text_pattern_ops"})
        # The name's start is compared with LIKE there too.
        op.execute(
            "CREATE INDEX ix_recordings_lower_participant_name_pattern ON recordings "
            "(lower(participant_name) text_pattern_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_recordings_lower_participant_name_pattern", table_name="recordings")
        for name, table, _column in PATTERN_INDEXES:
            op.drop_index(name, table_name=table)
    op.drop_index("ix_audit_events_event", table_name="audit_events")
    op.drop_index("ix_recordings_transferred_to_queue", table_name="recordings")
    op.drop_index("ix_recordings_transferred_from_queue", table_name="recordings")
    op.drop_index("ix_recordings_lower_participant_name", table_name="recordings")
    op.drop_index("ix_recordings_lower_participant_identity", table_name="recordings")
