"""The SQL backend's :class:`~tactful.storage.protocol.ExperimentStore`: experiments,
exposures once per person, lists served under experiments, and attribution."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tactful.errors import Conflict
from tactful.experiments.analysis import ExperimentData
from tactful.experiments.model import Experiment
from tactful.storage import schema as t
from tactful.storage.protocol import ErasureCheck, ExperimentServedRecord, ExposureRecord
from tactful.storage.sql_base import SqlBase
from tactful.storage.sql_privacy import erased_after

CLOCK_SKEW_SECONDS = 300.0
"""An event stamped up to this long before its list (a client's clock behind ours) still counts."""


def _row(experiment: Experiment) -> dict[str, object]:
    return {
        "id": experiment.id,
        "namespace": experiment.spec.namespace_name,
        "status": experiment.status.value,
        "version": experiment.version,
        "body": experiment.model_dump_json(),
        "updated_at": experiment.updated_at.timestamp(),
    }


class SqlExperiments(SqlBase):
    """Reads and writes of the experiment tables."""

    def insert_experiment(self, experiment: Experiment) -> None:
        try:
            with self._write() as conn:
                conn.execute(insert(t.experiments).values(**_row(experiment)))
        except IntegrityError:
            raise Conflict(f"an experiment {experiment.id!r} exists", field="id") from None

    def update_experiment(self, experiment: Experiment, expected_version: int) -> bool:
        row = _row(experiment)
        del row["id"]
        with self._write() as conn:
            done = conn.execute(
                update(t.experiments)
                .where(t.experiments.c.id == experiment.id, t.experiments.c.version == expected_version)
                .values(**row)
            )
            return bool(done.rowcount == 1)

    def get_experiment(self, experiment_id: str) -> Experiment | None:
        with self.engine.connect() as conn:
            body = conn.execute(
                select(t.experiments.c.body).where(t.experiments.c.id == experiment_id)
            ).scalar()
        return None if body is None else Experiment.model_validate_json(body)

    def list_experiments(self, namespace: str | None = None) -> list[Experiment]:
        query = select(t.experiments.c.body).order_by(t.experiments.c.id)
        if namespace is not None:
            query = query.where(t.experiments.c.namespace == namespace)
        with self.engine.connect() as conn:
            return [Experiment.model_validate_json(b) for b in conn.execute(query).scalars()]

    def save_exposures(
        self,
        exposures: Sequence[ExposureRecord],
        served: Sequence[ExperimentServedRecord],
        check: ErasureCheck | None = None,
    ) -> int:
        if not exposures and not served:
            return 0
        mark = "?" if self.is_sqlite else "%s"
        x_cols = ("experiment_id", "user_id", "variant", "first_at", "surface", "rec_id")
        s_cols = ("rec_id", "experiment_id", "user_id", "variant", "at", "items")
        x_sql = (
            f'INSERT INTO "{t.experiment_exposures.name}" ({", ".join(x_cols)}) '
            f"VALUES ({', '.join([mark] * len(x_cols))}) ON CONFLICT (experiment_id, user_id) DO NOTHING"
        )
        s_sql = (
            f'INSERT INTO "{t.experiment_served.name}" ({", ".join(s_cols)}) '
            f"VALUES ({', '.join([mark] * len(s_cols))}) ON CONFLICT (rec_id, experiment_id) DO NOTHING"
        )
        with self._write() as conn:
            produced = [(e.user_id, e.at) for e in exposures] + [(s.user_id, s.at) for s in served]
            erased = erased_after(conn, self.is_sqlite, check, produced)
            x_rows = [
                (e.experiment_id, e.user_id, e.variant, e.at, e.surface, e.rec_id)
                for e in exposures
                if (e.user_id, e.at) not in erased
            ]
            s_rows = [
                (s.rec_id, s.experiment_id, s.user_id, s.variant, s.at, s.items)
                for s in served
                if (s.user_id, s.at) not in erased
            ]
            written = 0
            if x_rows:
                # row by row, so the count of new exposures is exact on both drivers
                for row in x_rows:
                    written += max(conn.exec_driver_sql(x_sql, row).rowcount, 0)
            if s_rows:
                conn.exec_driver_sql(s_sql, s_rows)
            return written

    def experiment_data(
        self,
        experiment_id: str,
        window_seconds: float,
        event_types: Collection[str],
        until: float,
        prior: bool = False,
    ) -> ExperimentData:
        x, s, e = t.experiment_exposures.c, t.experiment_served.c, t.events.c
        with self._snapshot() as conn:
            exposures = [
                (r.user_id, r.variant, float(r.first_at))
                for r in conn.execute(
                    select(x.user_id, x.variant, x.first_at)
                    .where(x.experiment_id == experiment_id, x.first_at <= until)
                    .order_by(x.user_id)
                )
            ]
            served = [
                (r[0], float(r[1]), int(r[2]))
                for r in conn.execute(
                    select(s.user_id, s.at, s["items"]).where(s.experiment_id == experiment_id, s.at <= until)
                )
            ]
            events: list[tuple[str, str, float]] = []
            if event_types:
                query = (
                    select(s.user_id, e.type, e.ts)
                    .select_from(
                        t.experiment_served.join(
                            t.events, (e.recommendation_id == s.rec_id) & (e.user_id == s.user_id)
                        )
                    )
                    .where(
                        s.experiment_id == experiment_id,
                        s.at <= until,
                        e.type.in_(sorted(event_types)),
                        e.ts >= s.at - CLOCK_SKEW_SECONDS,
                        e.ts <= s.at + window_seconds,
                        e.ts <= until,
                    )
                )
                events = [(r.user_id, r.type, float(r.ts)) for r in conn.execute(query)]
            before: dict[str, float] = {}
            if prior:
                query = (
                    select(x.user_id, func.count())
                    .select_from(t.experiment_exposures.join(t.events, e.user_id == x.user_id))
                    .where(x.experiment_id == experiment_id, e.ts < x.first_at)
                    .group_by(x.user_id)
                )
                before = {r[0]: float(r[1]) for r in conn.execute(query)}
        return ExperimentData(exposures=exposures, served=served, events=events, prior=before)
