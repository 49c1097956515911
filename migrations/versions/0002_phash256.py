"""Store pHash-256 beside pHash-64 so perceptual candidates are confirmed without parsing.

Revision 0001 kept only pHash-64; the 256-bit hash had to be read out of each candidate's
record body. This adds ``assets.phash256`` and an index on ``assets.phash64``, backfilling
the new column from the signed records. SQLite cannot add a NOT NULL column without a
default, so the table is rebuilt in batch mode, which drops its triggers: they are
dropped explicitly first (the backfill is an UPDATE) and recreated at the end.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from provenance.errors import LogIntegrityError
from provenance.store.migrate import create_triggers, drop_triggers

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    drop_triggers(bind, ("assets",))
    op.add_column("assets", sa.Column("phash256", sa.LargeBinary(32), nullable=True))
    rows = bind.execute(
        sa.text("SELECT a.idx, r.body FROM assets a JOIN records r ON r.idx = a.idx")
    ).all()
    for idx, body in rows:
        try:
            phash256 = bytes.fromhex(json.loads(bytes(body))["statement"]["asset"]["phash256"])
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise LogIntegrityError(
                f"cannot upgrade the schema: record {idx} carries no readable pHash-256 "
                f"({type(exc).__name__}: {exc}); the ledger is left as it was",
                hint="audit it with the provenance version that wrote it",
            ) from exc
        bind.execute(
            sa.text("UPDATE assets SET phash256 = :h WHERE idx = :i"), {"h": phash256, "i": idx}
        )
    with op.batch_alter_table("assets", recreate="always") as batch:
        batch.alter_column("phash256", existing_type=sa.LargeBinary(32), nullable=False)
    op.create_index("ix_assets_phash64", "assets", ["phash64"])
    create_triggers(bind, ("assets",))
