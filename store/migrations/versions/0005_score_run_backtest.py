"""score run backtest: each scoring run keeps how its methods did on the company's own history

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("score_run") as batch:
        batch.add_column(sa.Column("backtest", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("score_run") as batch:
        batch.drop_column("backtest")
