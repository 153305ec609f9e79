"""hub version: the one row that changes with every subscription insert or delete

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 03:30:00.000000
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    hub_version = op.create_table(
        "hub_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # A database at 0002 may already hold subscriptions: no process has cached them under this value yet.
    op.bulk_insert(hub_version, [{"id": 1, "version": secrets.randbits(62)}])


def downgrade() -> None:
    op.drop_table("hub_version")
