"""account team: reps on an account's team see it in their book, whoever owns it

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_team_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("rep_id", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["rep_id"], ["rep.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "rep_id", name="uq_account_team_member"),
    )
    op.create_index(
        "ix_account_team_member_account_id", "account_team_member", ["account_id"], unique=False
    )
    op.create_index(
        "ix_account_team_member_rep_id", "account_team_member", ["rep_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_account_team_member_rep_id", table_name="account_team_member")
    op.drop_index("ix_account_team_member_account_id", table_name="account_team_member")
    op.drop_table("account_team_member")
