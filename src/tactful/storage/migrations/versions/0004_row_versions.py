"""Row versions for incremental person state.

Every interest and per-item row records the person version that last wrote it, and the
person records the last version at which rows were deleted, so a worker holding version v
can bring its cached state forward by reading only the rows written after v.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("interests") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("person_items") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("persons") as batch:
        batch.add_column(sa.Column("reset_version", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_interests_user_version", "interests", ["user_id", "version"])
    op.create_index("ix_person_items_user_version", "person_items", ["user_id", "version"])


def downgrade() -> None:
    op.drop_index("ix_person_items_user_version", table_name="person_items")
    op.drop_index("ix_interests_user_version", table_name="interests")
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("reset_version")
    with op.batch_alter_table("person_items") as batch:
        batch.drop_column("version")
    with op.batch_alter_table("interests") as batch:
        batch.drop_column("version")
