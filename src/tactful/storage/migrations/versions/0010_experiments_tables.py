"""Experiments: their specs and state, exposures once per person, and lists served under them.

Also indexes events by recommendation id, which attribution joins on.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("namespace", sa.String(160), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_experiments_namespace", "experiments", ["namespace"])
    op.create_table(
        "experiment_exposures",
        sa.Column("experiment_id", sa.String(128), primary_key=True),
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("variant", sa.String(32), nullable=False),
        sa.Column("first_at", sa.Float, nullable=False),
        sa.Column("surface", sa.String(32), nullable=False),
        sa.Column("rec_id", sa.String(128), nullable=False),
    )
    op.create_index("ix_experiment_exposures_user", "experiment_exposures", ["user_id"])
    op.create_table(
        "experiment_served",
        sa.Column("rec_id", sa.String(128), primary_key=True),
        sa.Column("experiment_id", sa.String(128), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("variant", sa.String(32), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
    )
    op.create_index("ix_experiment_served_experiment", "experiment_served", ["experiment_id", "at"])
    op.create_index("ix_experiment_served_user", "experiment_served", ["user_id"])
    op.create_index("ix_events_recommendation", "events", ["recommendation_id"])


def downgrade() -> None:
    op.drop_index("ix_events_recommendation", table_name="events")
    op.drop_index("ix_experiment_served_user", table_name="experiment_served")
    op.drop_index("ix_experiment_served_experiment", table_name="experiment_served")
    op.drop_table("experiment_served")
    op.drop_index("ix_experiment_exposures_user", table_name="experiment_exposures")
    op.drop_table("experiment_exposures")
    op.drop_index("ix_experiments_namespace", table_name="experiments")
    op.drop_table("experiments")
