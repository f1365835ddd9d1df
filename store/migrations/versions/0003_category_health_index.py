"""category health index: a team's flagged categories counted and ranked from the index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 13:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_category_health_account_status",
        "category_health",
        ["account_id", "status", "revenue_at_risk", "category"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_category_health_account_status", table_name="category_health")
