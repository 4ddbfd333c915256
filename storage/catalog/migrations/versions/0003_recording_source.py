"""Which source a recording came from.

Adds ``recordings.source`` (``conversations`` for every existing row: until now the Infobip
Conversations API was the only source), indexed for searches by source.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(
            sa.Column(
                "source", sa.String(length=32), nullable=False, server_default="conversations"
            )
        )
        batch.create_index("ix_recordings_source", ["source"])


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_index("ix_recordings_source")
        batch.drop_column("source")
