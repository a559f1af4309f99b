"""Traces: what each item (and each person's item-less signals) taught, so opt-out and mute can take it back.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("persons") as batch:
        batch.add_column(sa.Column("trace", sa.Text, nullable=False, server_default="{}"))
    with op.batch_alter_table("person_items") as batch:
        batch.add_column(sa.Column("trace", sa.Text, nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("person_items") as batch:
        batch.drop_column("trace")
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("trace")
