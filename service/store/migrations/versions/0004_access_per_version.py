"""access: each version's own restricted flag, and the organisation a Consent's grant comes from

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 14:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "resource_version",
        sa.Column("restricted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("access_grant", sa.Column("grantor", sa.String(length=128), nullable=True))
    # Fail closed for what exists: every version of a resource restricted now counts as
    # restricted, and existing grants come from the organisation that recorded their Consent.
    op.execute(
        "UPDATE resource_version SET restricted = TRUE WHERE resource_pk IN "
        "(SELECT pk FROM resource WHERE restricted = TRUE)"
    )
    # Identity records are never restricted any more (the baby first recorded by perinatal
    # mental health must be found by health visiting); their versions stay as they were written.
    op.execute("UPDATE resource SET restricted = FALSE WHERE res_type IN ('Patient', 'RelatedPerson')")
    op.execute(
        "UPDATE access_grant SET grantor = (SELECT owner_org FROM resource WHERE resource.pk = access_grant.consent_pk)"
    )


def downgrade() -> None:
    op.drop_column("access_grant", "grantor")
    op.drop_column("resource_version", "restricted")
