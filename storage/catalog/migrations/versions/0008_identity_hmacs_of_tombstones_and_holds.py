"""Keyed hashes where a participant must still be found after their identity is gone.

Adds ``recordings.participant_identity_hmac`` (written when a recording becomes a tombstone,
so a participant hold placed later still finds the other legs of that person's conversations)
and ``legal_holds.scope_hmac`` (the keyed hash of a participant hold's scope, matched against
those tombstones).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(
            sa.Column("participant_identity_hmac", sa.String(length=64), nullable=True)
        )
        batch.create_index(
            "ix_recordings_participant_identity_hmac", ["participant_identity_hmac"]
        )
    with op.batch_alter_table("legal_holds") as batch:
        batch.add_column(sa.Column("scope_hmac", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("legal_holds") as batch:
        batch.drop_column("scope_hmac")
    with op.batch_alter_table("recordings") as batch:
        batch.drop_index("ix_recordings_participant_identity_hmac")
        batch.drop_column("participant_identity_hmac")
