"""Make ``meta`` append-only too: it holds the log's origin and public key, the trust root.

Revision 0001 protected the log tables but not ``meta``, so a plain UPDATE could swap the
log key a verifier reads from the database (review finding; the ``<db>.logkey.pub`` check
and pinned checkpoints catch the swap, the trigger now refuses it outright).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

from provenance.store.migrate import create_triggers

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_triggers(op.get_bind(), ("meta",))
