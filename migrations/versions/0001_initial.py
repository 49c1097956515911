"""Initial ledger schema: records, digests, parents, nodes, checkpoints, keys, triggers.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from provenance.store.migrate import create_triggers

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("rid", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("signer", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_records_signer", "records", ["signer"])
    op.create_table(
        "assets",
        sa.Column(
            "idx",
            sa.BigInteger,
            sa.ForeignKey("records.idx"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("sha256", sa.LargeBinary(32), nullable=False),
        sa.Column("pixels", sa.LargeBinary(32), nullable=False),
        sa.Column("phash64", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_assets_sha256", "assets", ["sha256"])
    op.create_index("ix_assets_pixels", "assets", ["pixels"])
    op.create_table(
        "parents",
        sa.Column(
            "child",
            sa.BigInteger,
            sa.ForeignKey("records.idx"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("parent", sa.BigInteger, sa.ForeignKey("records.idx"), nullable=False),
    )
    op.create_index("ix_parents_parent", "parents", ["parent"])
    op.create_table(
        "nodes",
        sa.Column("key", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "keys",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("idx", sa.BigInteger, sa.ForeignKey("records.idx"), nullable=False),
    )
    op.create_table(
        "revocations",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("idx", sa.BigInteger, sa.ForeignKey("records.idx"), nullable=False),
    )
    create_triggers(op.get_bind())
