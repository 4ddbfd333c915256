"""Initial catalog schema: recordings, archived objects, the audit chain, run locks.

Types are frozen here (plain String/DateTime) rather than imported from models.tables, so later
model edits cannot change what this revision creates; UTCDateTime is DateTime(timezone=True).

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("recording_id", sa.String(length=128), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=True),
        sa.Column("conference_id", sa.String(length=128), nullable=True),
        sa.Column("call_id", sa.String(length=128), nullable=True),
        sa.Column("direction", sa.String(length=32), nullable=True),
        sa.Column("recording_status", sa.String(length=32), nullable=True),
        sa.Column("composed", sa.Boolean(), nullable=False),
        sa.Column("filename", sa.String(length=512), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("participant_id", sa.String(length=128), nullable=True),
        sa.Column("participant_identity", sa.String(length=256), nullable=True),
        sa.Column("participant_name", sa.String(length=256), nullable=True),
        sa.Column("participant_type", sa.String(length=32), nullable=True),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_deleted_by", sa.String(length=128), nullable=True),
        sa.Column("sftp_path", sa.String(length=1024), nullable=True),
        sa.Column("transferred_from", sa.String(length=128), nullable=True),
        sa.Column("transferred_to", sa.String(length=128), nullable=True),
        sa.Column("transferred_from_queue", sa.String(length=128), nullable=True),
        sa.Column("transferred_to_queue", sa.String(length=128), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("preparation_status", sa.String(length=32), nullable=True),
        sa.Column("source_sha256", sa.String(length=64), nullable=True),
        sa.Column("source_size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("conflicting_sha256", sa.String(length=64), nullable=True),
        sa.Column("probe", sa.JSON(), nullable=True),
        sa.Column("policy_rule", sa.String(length=128), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("discovered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("recording_id"),
    )
    op.create_index(op.f("ix_recordings_call_id"), "recordings", ["call_id"], unique=False)
    op.create_index(
        op.f("ix_recordings_conversation_id"), "recordings", ["conversation_id"], unique=False
    )
    op.create_index(
        op.f("ix_recordings_next_attempt_at"), "recordings", ["next_attempt_at"], unique=False
    )
    op.create_index(
        op.f("ix_recordings_participant_id"), "recordings", ["participant_id"], unique=False
    )
    op.create_index(
        op.f("ix_recordings_participant_identity"),
        "recordings",
        ["participant_identity"],
        unique=False,
    )
    op.create_index(
        op.f("ix_recordings_participant_type"), "recordings", ["participant_type"], unique=False
    )
    op.create_index(op.f("ix_recordings_started_at"), "recordings", ["started_at"], unique=False)
    op.create_index(op.f("ix_recordings_state"), "recordings", ["state"], unique=False)
    op.create_table(
        "archived_objects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.String(length=63), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("version_id", sa.String(length=1024), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("checksum_method", sa.String(length=32), nullable=True),
        sa.Column("content_type", sa.String(length=128), nullable=True),
        sa.Column("codec", sa.String(length=128), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lock_mode", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.recording_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recording_id", "kind", name="uq_object_recording_kind"),
    )
    op.create_index(op.f("ix_archived_objects_key"), "archived_objects", ["key"], unique=False)
    op.create_index(
        op.f("ix_archived_objects_recording_id"), "archived_objects", ["recording_id"], unique=False
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recording_id", sa.String(length=128), nullable=True),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("from_state", sa.String(length=24), nullable=True),
        sa.Column("to_state", sa.String(length=24), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"], unique=False)
    op.create_index(
        op.f("ix_audit_events_recording_id"), "audit_events", ["recording_id"], unique=False
    )
    op.create_table(
        "run_locks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("run_locks")
    op.drop_table("audit_events")
    op.drop_table("archived_objects")
    op.drop_table("recordings")
