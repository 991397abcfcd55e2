"""presigned uploads to an object store

A file that arrived by a presigned PUT straight to S3 has no sha256 until its content
check has read it, and garbage collection looks files up by blob key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a column in place (the table is copied).
    with op.batch_alter_table("files") as batch:
        batch.alter_column("sha256", existing_type=sa.String(length=64), nullable=True)
        batch.create_index("ix_files_blob_key", ["blob_key"])


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_index("ix_files_blob_key")
        batch.alter_column("sha256", existing_type=sa.String(length=64), nullable=False)
