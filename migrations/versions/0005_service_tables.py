"""Tables of the ledger service: witness cosignatures and deposited C2PA manifest stores.

Neither is part of the Merkle log (the log's own tables are untouched):

* ``cosignatures``: the C2SP tlog-cosignature lines witnesses returned for a checkpoint
  (by tree size and witness name); ``GET /checkpoint`` serves the latest checkpoint with
  them. A cosignature verifies by itself, so a wrong row is caught by whoever checks it.
* ``c2pa_manifests``: C2PA manifest stores exported from ledger records (issue 14), served
  by ``GET /v1/manifests/{id}`` and found by their ISCC soft binding. A manifest store is
  self-verifying and names its record.

Both are append-only (triggers), like the log.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from provenance.store.migrate import create_triggers

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cosignatures",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("witness", sa.String(200), primary_key=True),
        sa.Column("line", sa.Text, nullable=False),
    )
    op.create_table(
        "c2pa_manifests",
        sa.Column("manifest_id", sa.String(200), primary_key=True),
        sa.Column("record_id", sa.String(71), nullable=False),
        sa.Column("iscc", sa.LargeBinary, nullable=False),
        sa.Column("store_sha256", sa.LargeBinary(32), nullable=False),
        sa.Column("store", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_c2pa_manifests_record", "c2pa_manifests", ["record_id"])
    create_triggers(op.get_bind(), ("cosignatures", "c2pa_manifests"))
