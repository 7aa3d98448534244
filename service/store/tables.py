"""The tables: current resources, their versions, the search index and conditional-create keys."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service.store.types import BigIntPK, ResourceJSON, UTCDateTime


class Base(DeclarativeBase):
    pass


class ResourceRow(Base):
    """One row per logical resource; points at its current version."""

    __tablename__ = "resource"
    __table_args__ = (
        UniqueConstraint("res_type", "res_id", name="uq_resource_type_id"),
        Index("ix_resource_type_updated", "res_type", "last_updated"),
    )

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    res_type: Mapped[str] = mapped_column(String(64))
    res_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who may see it: the organisation that first wrote it, and whether a confidentiality
    # label restricts it to that organisation and those a Consent grants.
    owner_org: Mapped[str | None] = mapped_column(String(128), nullable=True)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)


class AccessGrantRow(Base):
    """One organisation's access to a patient's restricted resources, from an active Consent."""

    __tablename__ = "access_grant"
    __table_args__ = (Index("ix_access_grant_lookup", "organization", "patient_id"),)

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    consent_pk: Mapped[int] = mapped_column(BigIntPK, ForeignKey("resource.pk", ondelete="CASCADE"), index=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    organization: Mapped[str] = mapped_column(String(128))
    # The organisation that recorded the Consent: the grant opens only what it owns.
    grantor: Mapped[str | None] = mapped_column(String(128), nullable=True)
    purpose: Mapped[str | None] = mapped_column(String(64), nullable=True)
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ResourceVersionRow(Base):
    """Every version ever written; a delete is a version without content."""

    __tablename__ = "resource_version"
    __table_args__ = (Index("ix_resource_version_updated", "res_type", "last_updated"),)

    resource_pk: Mapped[int] = mapped_column(BigIntPK, ForeignKey("resource.pk", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    res_type: Mapped[str] = mapped_column(String(64))
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime())
    method: Mapped[str] = mapped_column(String(8))
    content: Mapped[dict[str, Any] | None] = mapped_column(ResourceJSON, nullable=True)
    # This version's own label: vread and history judge each version by it (and the current one's).
    restricted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ConditionalKeyRow(Base):
    """The search a conditional create was made under; unique, so racing creates cannot both win."""

    __tablename__ = "conditional_key"
    __table_args__ = (UniqueConstraint("res_type", "key_hash", name="uq_conditional_key"),)

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    res_type: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(64))
    resource_pk: Mapped[int] = mapped_column(BigIntPK, ForeignKey("resource.pk", ondelete="CASCADE"), index=True)


class MetaRow(Base):
    """Small facts about the database itself, such as which profile package is installed."""

    __tablename__ = "dyad_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
NHS_NUMBER_INDEX = "uq_patient_nhs_number"
NHS_NUMBER_ROWS = f"res_type = 'Patient' AND param = 'identifier' AND system = '{NHS_NUMBER_SYSTEM}'"


class _IndexColumns:
    """Columns every search-index table shares: which resource, which parameter.

    Each table's search index ends in resource_pk so that the `pk IN (SELECT resource_pk ...)`
    subqueries are answered from the index alone; (resource_pk, param) serves deletes on
    update, sorting and the probes a database makes when it drives from another filter.
    """

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = mapped_column(BigIntPK, ForeignKey("resource.pk", ondelete="CASCADE"))
    res_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(100))


class TokenIndexRow(_IndexColumns, Base):
    __tablename__ = "search_token"
    __table_args__ = (
        Index("ix_search_token_code", "res_type", "param", "code", "system", "resource_pk"),
        Index("ix_search_token_system", "res_type", "param", "system", "resource_pk"),
        Index("ix_search_token_resource", "resource_pk", "param"),
        # One Patient per NHS number (migration 0008): the current version's rows are unique.
        Index(
            NHS_NUMBER_INDEX,
            "code",
            unique=True,
            postgresql_where=text(NHS_NUMBER_ROWS),
            sqlite_where=text(NHS_NUMBER_ROWS),
        ),
    )

    system: Mapped[str | None] = mapped_column(String(255), nullable=True)
    code: Mapped[str | None] = mapped_column(String(255), nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)


class StringIndexRow(_IndexColumns, Base):
    __tablename__ = "search_string"
    __table_args__ = (
        # varchar_pattern_ops lets PostgreSQL answer `LIKE 'abc%'` from the index whatever the
        # database collation; SQLite's LIKE is used on lower-cased values either way.
        Index(
            "ix_search_string_value",
            "res_type",
            "param",
            "value",
            "resource_pk",
            postgresql_ops={"value": "varchar_pattern_ops"},
        ),
        Index("ix_search_string_resource", "resource_pk", "param"),
    )

    value: Mapped[str] = mapped_column(String(255))
    exact: Mapped[str] = mapped_column(Text)


class DateIndexRow(_IndexColumns, Base):
    __tablename__ = "search_date"
    __table_args__ = (
        Index("ix_search_date_range", "res_type", "param", "low", "high", "resource_pk"),
        Index("ix_search_date_resource", "resource_pk", "param"),
    )

    low: Mapped[datetime] = mapped_column(UTCDateTime())
    high: Mapped[datetime] = mapped_column(UTCDateTime())  # inclusive


class ReferenceIndexRow(_IndexColumns, Base):
    __tablename__ = "search_reference"
    __table_args__ = (
        Index("ix_search_reference_target", "res_type", "param", "target_id", "target_type", "resource_pk"),
        # _revinclude, _has and chains start from the resource pointed at.
        Index("ix_search_reference_reverse", "target_type", "target_id", "res_type", "param"),
        Index("ix_search_reference_url", "res_type", "param", "url"),
        Index("ix_search_reference_resource", "resource_pk", "param"),
    )

    target_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)


class NumberIndexRow(_IndexColumns, Base):
    __tablename__ = "search_number"
    __table_args__ = (
        Index("ix_search_number_value", "res_type", "param", "value", "resource_pk"),
        Index("ix_search_number_resource", "resource_pk", "param"),
    )

    value: Mapped[Decimal] = mapped_column(Numeric(precision=30, scale=10))
    low: Mapped[Decimal] = mapped_column(Numeric(precision=30, scale=10))
    high: Mapped[Decimal] = mapped_column(Numeric(precision=30, scale=10))


class QuantityIndexRow(_IndexColumns, Base):
    __tablename__ = "search_quantity"
    __table_args__ = (
        Index("ix_search_quantity_value", "res_type", "param", "code", "value", "resource_pk"),
        Index("ix_search_quantity_resource", "resource_pk", "param"),
    )

    value: Mapped[Decimal] = mapped_column(Numeric(precision=30, scale=10))
    low: Mapped[Decimal] = mapped_column(Numeric(precision=30, scale=10))
    high: Mapped[Decimal] = mapped_column(Numeric(precision=30, scale=10))
    system: Mapped[str | None] = mapped_column(String(255), nullable=True)
    code: Mapped[str | None] = mapped_column(String(255), nullable=True)


class UriIndexRow(_IndexColumns, Base):
    __tablename__ = "search_uri"
    __table_args__ = (
        Index("ix_search_uri_value", "res_type", "param", "value"),
        Index("ix_search_uri_resource", "resource_pk", "param"),
    )

    value: Mapped[str] = mapped_column(Text)
