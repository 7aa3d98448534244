"""one Patient per NHS number: a partial unique index over the Patient identifier index rows

Revision ID: 0008
Revises: 0004
Create Date: 2026-11-30 14:40:00

The index rows of a Patient's current version are replaced in the transaction that writes it,
so a unique index over them makes the rule race-free: of two concurrent creates with one NHS
number, the second insert fails whatever either transaction saw before. A database that already
holds two Patients with one NHS number cannot take the index; merge them first.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0004"
branch_labels = None
depends_on = None

NHS_NUMBER_ROWS = "res_type = 'Patient' AND param = 'identifier' AND system = 'https://fhir.nhs.uk/Id/nhs-number'"


def upgrade() -> None:
    op.create_index(
        "uq_patient_nhs_number",
        "search_token",
        ["code"],
        unique=True,
        postgresql_where=sa.text(NHS_NUMBER_ROWS),
        sqlite_where=sa.text(NHS_NUMBER_ROWS),
    )


def downgrade() -> None:
    op.drop_index("uq_patient_nhs_number", table_name="search_token")
