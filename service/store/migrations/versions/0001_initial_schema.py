"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 00:13:48.933294
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import service.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dyad_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "resource",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("res_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_updated", service.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("owner_org", sa.String(length=128), nullable=True),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("res_type", "res_id", name="uq_resource_type_id"),
    )
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.create_index("ix_resource_type_updated", ["res_type", "last_updated"], unique=False)

    op.create_table(
        "access_grant",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("consent_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("organization", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=True),
        sa.Column("period_start", service.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("period_end", service.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["consent_pk"], ["resource.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
    )
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_grant_consent_pk"), ["consent_pk"], unique=False)
        batch_op.create_index("ix_access_grant_lookup", ["organization", "patient_id"], unique=False)

    op.create_table(
        "conditional_key",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("resource_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["resource_pk"], ["resource.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("res_type", "key_hash", name="uq_conditional_key"),
    )
    with op.batch_alter_table("conditional_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conditional_key_resource_pk"), ["resource_pk"], unique=False)

    op.create_table(
        "resource_version",
        sa.Column("resource_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("last_updated", service.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column(
            "content",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(["resource_pk"], ["resource.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("resource_pk", "version"),
    )
    with op.batch_alter_table("resource_version", schema=None) as batch_op:
        batch_op.create_index("ix_resource_version_updated", ["res_type", "last_updated"], unique=False)

    op.create_table(
        "search_date",
        sa.Column("low", service.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("high", service.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("resource_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["resource_pk"], ["resource.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
    )
    with op.batch_alter_table("search_date", schema=None) as batch_op:
        batch_op.create_index("ix_search_date_range", ["res_type", "param", "low", "high", "resource_pk"], unique=False)
        batch_op.create_index("ix_search_date_resource", ["resource_pk", "param"], unique=False)

    op.create_table(
        "search_number",
        sa.Column("value", sa.Numeric(precision=30, scale=10), nullable=False),
        sa.Column("low", sa.Numeric(precision=30, scale=10), nullable=False),
        sa.Column("high", sa.Numeric(precision=30, scale=10), nullable=False),
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("resource_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["resource_pk"], ["resource.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
    )
    with op.batch_alter_table("search_number", schema=None) as batch_op:
        batch_op.create_index("ix_search_number_resource", ["resource_pk", "param"], unique=False)
        batch_op.create_index("ix_search_number_value", ["res_type", "param", "value", "resource_pk"], unique=False)

    op.create_table(
        "search_quantity",
        sa.Column("value", sa.Numeric(precision=30, scale=10), nullable=False),
        sa.Column("low", sa.Numeric(precision=30, scale=10), nullable=False),
        sa.Column("high", sa.Numeric(precision=30, scale=10), nullable=False),
        sa.Column("system", sa.String(length=255), nullable=True),
        sa.Column("code", sa.String(length=255), nullable=True),
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("resource_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["resource_pk"], ["resource.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
    )
    with op.batch_alter_table("search_quantity", schema=None) as batch_op:
        batch_op.create_index("ix_search_quantity_resource", ["resource_pk", "param"], unique=False)
        batch_op.create_index(
            "ix_search_quantity_value", ["res_type", "param", "code", "value", "resource_pk"], unique=False
        )

    op.create_table(
        "search_reference",
        sa.Column("target_type", sa.String(length=64), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("resource_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["resource_pk"], ["resource.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
    )
    with op.batch_alter_table("search_reference", schema=None) as batch_op:
        batch_op.create_index("ix_search_reference_resource", ["resource_pk", "param"], unique=False)
        batch_op.create_index(
            "ix_search_reference_reverse", ["target_type", "target_id", "res_type", "param"], unique=False
        )
        batch_op.create_index(
            "ix_search_reference_target", ["res_type", "param", "target_id", "target_type", "resource_pk"], unique=False
        )
        batch_op.create_index("ix_search_reference_url", ["res_type", "param", "url"], unique=False)

    op.create_table(
        "search_string",
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("exact", sa.Text(), nullable=False),
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("resource_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["resource_pk"], ["resource.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
    )
    with op.batch_alter_table("search_string", schema=None) as batch_op:
        batch_op.create_index("ix_search_string_resource", ["resource_pk", "param"], unique=False)
        batch_op.create_index(
            "ix_search_string_value",
            ["res_type", "param", "value", "resource_pk"],
            unique=False,
            postgresql_ops={"value": "varchar_pattern_ops"},
        )

    op.create_table(
        "search_token",
        sa.Column("system", sa.String(length=255), nullable=True),
        sa.Column("code", sa.String(length=255), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("resource_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["resource_pk"], ["resource.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
    )
    with op.batch_alter_table("search_token", schema=None) as batch_op:
        batch_op.create_index(
            "ix_search_token_code", ["res_type", "param", "code", "system", "resource_pk"], unique=False
        )
        batch_op.create_index("ix_search_token_resource", ["resource_pk", "param"], unique=False)
        batch_op.create_index("ix_search_token_system", ["res_type", "param", "system", "resource_pk"], unique=False)

    op.create_table(
        "search_uri",
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("resource_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["resource_pk"], ["resource.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
    )
    with op.batch_alter_table("search_uri", schema=None) as batch_op:
        batch_op.create_index("ix_search_uri_resource", ["resource_pk", "param"], unique=False)
        batch_op.create_index("ix_search_uri_value", ["res_type", "param", "value"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("search_uri", schema=None) as batch_op:
        batch_op.drop_index("ix_search_uri_value")
        batch_op.drop_index("ix_search_uri_resource")

    op.drop_table("search_uri")
    with op.batch_alter_table("search_token", schema=None) as batch_op:
        batch_op.drop_index("ix_search_token_system")
        batch_op.drop_index("ix_search_token_resource")
        batch_op.drop_index("ix_search_token_code")

    op.drop_table("search_token")
    with op.batch_alter_table("search_string", schema=None) as batch_op:
        batch_op.drop_index("ix_search_string_value", postgresql_ops={"value": "varchar_pattern_ops"})
        batch_op.drop_index("ix_search_string_resource")

    op.drop_table("search_string")
    with op.batch_alter_table("search_reference", schema=None) as batch_op:
        batch_op.drop_index("ix_search_reference_url")
        batch_op.drop_index("ix_search_reference_target")
        batch_op.drop_index("ix_search_reference_reverse")
        batch_op.drop_index("ix_search_reference_resource")

    op.drop_table("search_reference")
    with op.batch_alter_table("search_quantity", schema=None) as batch_op:
        batch_op.drop_index("ix_search_quantity_value")
        batch_op.drop_index("ix_search_quantity_resource")

    op.drop_table("search_quantity")
    with op.batch_alter_table("search_number", schema=None) as batch_op:
        batch_op.drop_index("ix_search_number_value")
        batch_op.drop_index("ix_search_number_resource")

    op.drop_table("search_number")
    with op.batch_alter_table("search_date", schema=None) as batch_op:
        batch_op.drop_index("ix_search_date_resource")
        batch_op.drop_index("ix_search_date_range")

    op.drop_table("search_date")
    with op.batch_alter_table("resource_version", schema=None) as batch_op:
        batch_op.drop_index("ix_resource_version_updated")

    op.drop_table("resource_version")
    with op.batch_alter_table("conditional_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conditional_key_resource_pk"))

    op.drop_table("conditional_key")
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.drop_index("ix_access_grant_lookup")
        batch_op.drop_index(batch_op.f("ix_access_grant_consent_pk"))

    op.drop_table("access_grant")
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_index("ix_resource_type_updated")

    op.drop_table("resource")
    op.drop_table("dyad_meta")
