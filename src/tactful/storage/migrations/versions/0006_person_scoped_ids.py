"""Event ids scoped to their person; erasure tombstones.

An event id now names one event *of one person*: the unique key moves from ``event_id``
to ``(user_id, event_id)``. Every database that satisfied the old key satisfies the new one.
``erasures`` records a keyed hash of each erased person and the time, which every worker's
buffered writes are checked against.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# names the unnamed unique constraint of 0001 the way PostgreSQL named it, so batch mode
# (SQLite recreates the table) can find and drop it too
_NAMES = {"uq": "%(table_name)s_%(column_0_name)s_key"}


def upgrade() -> None:
    with op.batch_alter_table("events", naming_convention=_NAMES) as batch:
        batch.drop_constraint("events_event_id_key", type_="unique")
        batch.create_unique_constraint("uq_events_user_event", ["event_id", "user_id"])
    op.create_table(
        "erasures",
        sa.Column("subject", sa.String(64), primary_key=True),
        sa.Column("erased_at", sa.Float, nullable=False),
    )
    op.create_index("ix_erasures_erased_at", "erasures", ["erased_at"])


def downgrade() -> None:
    op.drop_index("ix_erasures_erased_at", table_name="erasures")
    op.drop_table("erasures")
    with op.batch_alter_table("events", naming_convention=_NAMES) as batch:
        batch.drop_constraint("uq_events_user_event", type_="unique")
        batch.create_unique_constraint("events_event_id_key", ["event_id"])
