"""Back-off counts visits: the start of the current visit and the slots it has counted.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("person_policy") as batch:
        batch.add_column(sa.Column("visit_start", sa.Float))
        batch.add_column(sa.Column("visit_slots", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("person_policy") as batch:
        batch.drop_column("visit_slots")
        batch.drop_column("visit_start")
