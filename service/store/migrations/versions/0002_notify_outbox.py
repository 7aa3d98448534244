"""notification outbox and delivery lanes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:30:00
"""

import sqlalchemy as sa
from alembic import op

import service.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PENDING_ONLY = sa.text("state = 'pending'")


def upgrade() -> None:
    op.create_table(
        "notify_event",
        sa.Column("pk", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("resource_pk", BIGINT_PK, nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("res_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("interaction", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", service.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", service.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("finished_at", service.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index(
        "ix_notify_event_pending",
        "notify_event",
        ["subscription_id", "pk"],
        postgresql_where=PENDING_ONLY,
        sqlite_where=PENDING_ONLY,
    )
    op.create_index("ix_notify_event_resource", "notify_event", ["resource_pk", "version"])
    op.create_index("ix_notify_event_state_created", "notify_event", ["state", "created_at"])

    op.create_table(
        "notify_lane",
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", service.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", service.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("error_reported", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id"),
    )
    op.create_index("ix_notify_lane_due", "notify_lane", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_notify_lane_due", table_name="notify_lane")
    op.drop_table("notify_lane")
    op.drop_index("ix_notify_event_state_created", table_name="notify_event")
    op.drop_index("ix_notify_event_resource", table_name="notify_event")
    op.drop_index("ix_notify_event_pending", table_name="notify_event")
    op.drop_table("notify_event")
