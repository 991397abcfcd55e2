"""the web UI's gallery: stems, thumbnails and caption text

`stem` (the name before the last dot) groups an image or video with its caption and
pages the gallery; `thumb_key` names the 256 px WebP the content check makes;
`caption_text` keeps a short caption's text so the gallery shows it without reading
blobs. Existing rows get their stem here; their thumbnails and texts stay empty until a
file is uploaded again (the UI shows a placeholder).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _stem(filename: str) -> str:
    dot = filename.rfind(".")
    return filename[:dot] if dot > 0 else filename


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("stem", sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column("thumb_key", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("caption_text", sa.Text(), nullable=True))
    conn = op.get_bind()
    files = sa.table("files", sa.column("id"), sa.column("filename"), sa.column("stem"))
    rows = conn.execute(sa.select(files.c.id, files.c.filename)).all()
    for i in range(0, len(rows), 1000):
        conn.execute(
            files.update()
            .where(files.c.id == sa.bindparam("b_id"))
            .values(stem=sa.bindparam("b_stem")),
            [{"b_id": r.id, "b_stem": _stem(r.filename)} for r in rows[i : i + 1000]],
        )
    with op.batch_alter_table("files") as batch:
        batch.alter_column("stem", existing_type=sa.String(length=1024), nullable=False)
        batch.create_index("ix_files_thumb_key", ["thumb_key"])
        batch.create_index("ix_files_dataset_stem", ["dataset_id", "stem"])


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_index("ix_files_dataset_stem")
        batch.drop_index("ix_files_thumb_key")
        batch.drop_column("caption_text")
        batch.drop_column("thumb_key")
        batch.drop_column("stem")
