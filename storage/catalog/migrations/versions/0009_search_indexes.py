"""Search indexes: what the auditor's searches need to stay fast on a large catalog.

- ``participant_words``: each case-folded word of a participant's name, so a search for a
  later word of a name (``martin`` in "Hugo Martin") uses an index; filled here from the
  names already in the catalog;
- ``lower(participant_identity)`` and ``lower(participant_name)``: identity searches compare
  the lower-cased identity, name searches its lower-cased start;
- the queues a recording was transferred from or to, and the audit events' type;
- on PostgreSQL only, ``text_pattern_ops`` indexes on the ids, so ``LIKE 'ab12%'`` (an id
  prefix) uses an index whatever the database's collation. SQLite compares id prefixes as a
  range, which its ordinary indexes already serve.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PATTERN_INDEXES = (
    ("ix_recordings_recording_id_pattern", "recordings", "recording_id"),
    ("ix_recordings_conversation_id_pattern", "recordings", "conversation_id"),
    ("ix_recordings_call_id_pattern", "recordings", "call_id"),
    ("ix_audit_events_recording_id_pattern", "audit_events", "recording_id"),
    ("ix_participant_words_word_pattern", "participant_words", "word"),
)
_WORD = re.compile(r"\w+")
_BATCH = 1000


def _fill_words() -> None:
    """The words of every name already in the catalog, a page of recordings at a time
    (``models.search.name_words``, copied here: a migration must not change when the code
    does)."""
    bind = op.get_bind()
    words = sa.table("participant_words", sa.column("word"), sa.column("recording_id"))
    page = sa.text(
        "SELECT recording_id, participant_name FROM recordings "
        "WHERE participant_name IS NOT NULL AND recording_id > :after "
        "ORDER BY recording_id LIMIT :limit"
    )
    after = ""
    while True:
        rows = bind.execute(page, {"after": after, "limit": _BATCH}).fetchall()
        if not rows:
            return
        batch = [
            {"word": word, "recording_id": recording_id}
            for recording_id, name in rows
            for word in sorted({w[:256] for w in _WORD.findall(name.casefold())})
        ]
        if batch:
            bind.execute(sa.insert(words), batch)
        after = rows[-1][0]


def upgrade() -> None:
    op.create_table(
        "participant_words",
        sa.Column("word", sa.String(length=256), nullable=False),
        sa.Column("recording_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.recording_id"]),
        sa.PrimaryKeyConstraint("word", "recording_id"),
    )
    op.create_index(
        "ix_participant_words_recording_id", "participant_words", ["recording_id"]
    )
    _fill_words()
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
    op.drop_index("ix_participant_words_recording_id", table_name="participant_words")
    op.drop_table("participant_words")
