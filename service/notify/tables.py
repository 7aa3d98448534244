"""The outbox of notifications and the per-subscription delivery lanes that drain it."""

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from service.store.tables import Base
from service.store.types import BigIntPK, UTCDateTime

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"

# The claim and the lane's next batch only ever look at pending rows; partial indexes keep those
# lookups as small as the backlog rather than the whole (kept) history of deliveries.
_PENDING_ONLY = text("state = 'pending'")


class NotifyEventRow(Base):
    """One notification owed: a resource version that matched a subscription's criteria."""

    __tablename__ = "notify_event"
    __table_args__ = (
        Index(
            "ix_notify_event_pending",
            "subscription_id",
            "pk",
            postgresql_where=_PENDING_ONLY,
            sqlite_where=_PENDING_ONLY,
        ),
        Index("ix_notify_event_resource", "resource_pk", "version"),
        Index("ix_notify_event_state_created", "state", "created_at"),
    )

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # Derived from (subscription, resource version): stable across retries and replicas, so a
    # receiver can drop duplicates of an at-least-once delivery.
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    subscription_id: Mapped[str] = mapped_column(String(64))
    resource_pk: Mapped[int] = mapped_column(BigIntPK)
    res_type: Mapped[str] = mapped_column(String(64))
    res_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    interaction: Mapped[str] = mapped_column(String(8))  # create | update | delete
    state: Mapped[str] = mapped_column(String(10), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeliveryLaneRow(Base):
    """One per subscription: which worker holds it (a lease) and when it may next try.

    Claiming a whole subscription rather than single events is what keeps its events in order:
    only the lease holder delivers them, oldest first, and a failing event holds back the rest.
    """

    __tablename__ = "notify_lane"
    __table_args__ = (Index("ix_notify_lane_due", "next_attempt_at"),)

    subscription_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # Set when this lane wrote Subscription.status = error, so a success knows to undo it.
    error_reported: Mapped[bool] = mapped_column(default=False)
