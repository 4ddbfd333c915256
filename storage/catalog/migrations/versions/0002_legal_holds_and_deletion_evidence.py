"""Legal holds and deletion evidence.

Adds the ``legal_holds`` table (scope, reason, case, who placed and released it, when), the
``legal_hold_recordings`` table (which recordings a hold put under S3 legal hold), and three
columns on ``recordings`` that the tombstone of a deleted recording keeps: the hash verified
before the source copy was deleted, the retain-until date, and why it expired.

Types are frozen here, as in 0001.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("source_deleted_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("retain_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("expired_reason", sa.String(length=512), nullable=True))
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope_kind", sa.String(length=16), nullable=False),
        sa.Column("scope_value", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("case_ref", sa.String(length=256), nullable=False),
        sa.Column("placed_by", sa.String(length=128), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_by", sa.String(length=128), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_legal_holds_case_ref"), "legal_holds", ["case_ref"], unique=False)
    op.create_index(
        op.f("ix_legal_holds_released_at"), "legal_holds", ["released_at"], unique=False
    )
    op.create_index(
        op.f("ix_legal_holds_scope_value"), "legal_holds", ["scope_value"], unique=False
    )
    op.create_table(
        "legal_hold_recordings",
        sa.Column("hold_id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.String(length=128), nullable=False),
        sa.Column("versions", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["hold_id"], ["legal_holds.id"]),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.recording_id"]),
        sa.PrimaryKeyConstraint("hold_id", "recording_id"),
    )
    op.create_index(
        op.f("ix_legal_hold_recordings_recording_id"),
        "legal_hold_recordings",
        ["recording_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("legal_hold_recordings")
    op.drop_table("legal_holds")
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("expired_reason")
        batch.drop_column("retain_until")
        batch.drop_column("source_deleted_sha256")
