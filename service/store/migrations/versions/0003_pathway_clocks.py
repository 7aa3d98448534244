"""pathway clocks: assessment and intervention waiting-time clocks per referral task

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import service.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    when = service.store.types.UTCDateTime(timezone=True)
    op.create_table(
        "pathway_clock",
        sa.Column("pk", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("clock", sa.String(length=32), nullable=False),
        sa.Column("referral", sa.String(length=200), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("started_at", when, nullable=False),
        sa.Column("due_at", when, nullable=False),
        sa.Column("met_at", when, nullable=True),
        sa.Column("stopped_at", when, nullable=True),
        sa.Column("breached_at", when, nullable=True),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("task_id", "clock", name="uq_pathway_clock_task_clock"),
    )
    op.create_index("ix_pathway_clock_running_due", "pathway_clock", ["due_at"])
    op.create_index("ix_pathway_clock_owner", "pathway_clock", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_pathway_clock_owner", table_name="pathway_clock")
    op.drop_index("ix_pathway_clock_running_due", table_name="pathway_clock")
    op.drop_table("pathway_clock")
