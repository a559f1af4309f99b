"""Policy layer: promotions and their exposures, back-off counters, blocked interests, unengaged impressions.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("items", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("target_tags", sa.Text, nullable=False),
        sa.Column("surfaces", sa.Text, nullable=False),
        sa.Column("cap", sa.Integer, nullable=False),
        sa.Column("window_days", sa.Float, nullable=False),
        sa.Column("starts_at", sa.Float, nullable=False),
        sa.Column("ends_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "promotion_exposures",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("promotion_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("recommendation_id", sa.String(128)),
    )
    op.create_index("ix_promotion_exposures_user", "promotion_exposures", ["user_id", "promotion_id"])
    op.create_table(
        "person_policy",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("ignored_slots", sa.Integer, nullable=False),
        sa.Column("counted_since", sa.Float, nullable=False),
        sa.Column("backoff_since", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("persons") as batch:
        batch.add_column(sa.Column("blocked", sa.Text, nullable=False, server_default="[]"))
    with op.batch_alter_table("person_items") as batch:
        batch.add_column(sa.Column("unengaged", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("person_items") as batch:
        batch.drop_column("unengaged")
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("blocked")
    op.drop_table("person_policy")
    op.drop_index("ix_promotion_exposures_user", table_name="promotion_exposures")
    op.drop_table("promotion_exposures")
    op.drop_table("promotions")
