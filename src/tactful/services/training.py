"""Training the collaborative model from stored profiles, and publishing it for the servers.

The training input is each person's per-item state (decayed signal weights by provenance,
positive part, consented provenances only), not the raw event log: retention can drop old
events without hurting the model, erasure removes a person from the next model, and the
units are the same ones serving folds in at request time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tactful.errors import Conflict, ValidationError
from tactful.index.compiled_profile import PROVENANCES
from tactful.models.artifact import new_version_id
from tactful.models.recommender import Recommender
from tactful.models.store import ModelStore
from tactful.signals.profile import DAY
from tactful.storage.protocol import Store

TRAIN_ATTEMPTS = 3
KEEP_VERSIONS = 3


@dataclass(frozen=True)
class TrainingData:
    matrix: sp.csr_matrix
    timestamps: sp.csr_matrix
    item_ids: list[str]
    people: int
    user_ids: tuple[str, ...] = ()
    """The person of each matrix row."""


@dataclass(frozen=True)
class TrainReport:
    version: str
    path: str
    people: int
    items: int
    interactions: int
    train_seconds: float
    validation: dict[str, float]
    attempts: int = 1
    """Training runs it took: more than one when an erasure committed during a run."""

    def __str__(self) -> str:
        return (
            f"model {self.version}: {self.people} people × {self.items} items, "
            f"{self.interactions} interactions, trained in {self.train_seconds:.1f}s"
        )


def training_data(
    store: Store, item_ids: list[str], half_lives: dict[str, float], now: float
) -> TrainingData:
    """Positive decayed item weights per person over the catalog, with last-engaged times."""
    index = {item: n for n, item in enumerate(item_ids)}
    consents = store.consents()
    allowed = {
        uid: frozenset(p.value for p in c.provenances) if c.personalization else frozenset()
        for uid, c in consents.items()
    }
    default = frozenset({"explicit", "observed"})
    people: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    times: list[float] = []
    for batch in store.iter_item_states():
        for state in batch:
            col = index.get(state.item_id)
            if col is None:
                continue
            keep = allowed.get(state.user_id, default)
            value = 0.0
            for prov, (score, since) in state.scores.items():
                if prov in keep and prov in PROVENANCES:
                    age = max(now - since, 0.0) / (half_lives.get(prov, 30.0) * DAY)
                    value += score * 0.5**age
            if value <= 0.0:
                continue
            rows.append(people.setdefault(state.user_id, len(people)))
            cols.append(col)
            vals.append(value)
            times.append(state.last_engaged or now)
    shape = (len(people), len(item_ids))
    matrix = sp.csr_matrix((np.array(vals, np.float32), (rows, cols)), shape=shape)
    stamps = sp.csr_matrix((np.array(times, np.float64), (rows, cols)), shape=shape)
    return TrainingData(matrix, stamps, item_ids, len(people), tuple(people))


def train_model(
    store: Store,
    item_ids: list[str],
    half_lives: dict[str, float],
    models: ModelStore,
    now: float,
    progress: Callable[[str], None] = lambda _: None,
    attempts: int = TRAIN_ATTEMPTS,
) -> TrainReport:
    """Fit the default recommender and publish it as the current model.

    A model is published only if no erasure committed between reading its input and
    publishing it (P15): otherwise it may carry the erased person's contribution, so it is
    thrown away and trained again from fresh input, up to ``attempts`` times.
    """
    for attempt in range(1, attempts + 1):
        erasures = store.erasure_seq()  # read before the input: a later erasure is seen below
        progress("reading profiles")
        data = training_data(store, item_ids, half_lives, now)
        if data.matrix.nnz == 0:
            raise ValidationError("nothing to train on: no positive signals stored yet", field="events")
        progress(f"fitting on {data.matrix.nnz} interactions")
        started = time.perf_counter()
        model = Recommender.fit(data.matrix, item_ids, data.timestamps)
        elapsed = time.perf_counter() - started
        progress("saving artifact")
        model.artifact.version = new_version_id()
        version = model.artifact.version
        path = models.save(model.artifact)
        if store.erasure_seq() != erasures:
            models.remove(version)
            progress("a person was erased while training: training again without them")
            continue
        models.publish(version)
        models.prune(keep=KEEP_VERSIONS)
        validation = {k: float(v) for k, v in model.artifact.extra.items() if isinstance(v, int | float)}
        return TrainReport(
            version, path, data.people, len(item_ids), int(data.matrix.nnz), elapsed, validation, attempt
        )
    raise Conflict(
        f"erasures kept committing during training ({attempts} attempts); nothing was published, try again",
        field="model",
    )


def current_version(model_dir: Path | str) -> str | None:
    """The published version in a model store (a folder or an fsspec URL)."""
    return ModelStore(model_dir).current()
