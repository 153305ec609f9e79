"""partial search_value indexes on PostgreSQL: the number and instant indexes hold only rows that have one

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:00:00.000000

Most leaves of a document are texts: `v_num` and `v_time` are NULL on all but a few search rows, yet every
row had an entry in both indexes. Only their own rows go there now, which takes two of the five index
entries per search row off every create (bench/README.md, "Issue 14, sessions 4 and 5"). Every filter on these
columns is a comparison (strict), which implies IS NOT NULL, so the planner still uses them.

On PostgreSQL each index is rebuilt without blocking writes (CREATE/DROP INDEX CONCURRENTLY, outside the
migration's transaction): build the new one under a temporary name, drop the old, rename. A rerun after an
interrupted upgrade first drops a half-built temporary index. SQLite keeps its indexes as they are.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXED = {"ix_search_value_num": "v_num", "ix_search_value_time": "v_time"}


def _rebuild(partial: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        for name, column in INDEXED.items():
            building = f"{name}_new"
            where = f" WHERE {column} IS NOT NULL" if partial else ""
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {building}")
            op.execute(
                f"CREATE INDEX CONCURRENTLY {building} ON search_value "
                f"(resource_type, path, {column}, resource_pk){where}"
            )
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.execute(f"ALTER INDEX {building} RENAME TO {name}")


def upgrade() -> None:
    _rebuild(partial=True)


def downgrade() -> None:
    _rebuild(partial=False)
