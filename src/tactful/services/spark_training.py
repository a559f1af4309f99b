"""``tactful train --engine spark``: MLlib ALS on a Parquet event export, published as a model.

The Spark job (``tactful.models.spark_als``) turns the export's events into the same
per-person item values the in-process training reads from stored profiles, fits ALS on the
cluster and returns the item factors. They are saved in the artifact format every server
loads (``tactful-model/1``), to the shared model store, and published: servers on any host
hot-reload it as they do an in-process model.

The served model is then the collaborative factor part alone (plus popularity for people
with no positive signal): the item-to-item model of the in-process training (EASE or
item-kNN) and its validation tuning are not trained on Spark.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from typing import Any

from tactful.errors import Conflict, ValidationError
from tactful.models.recommender import RecommenderConfig, factor_artifact
from tactful.models.spark_als import SparkAlsParams, spark_session, train_spark_factors
from tactful.models.store import ModelStore
from tactful.services.event_export import CONSENTS, EVENTS, read_manifest
from tactful.services.training import KEEP_VERSIONS, TrainReport
from tactful.signals.rules import EventRule
from tactful.storage.protocol import Store


def spark_path(url: str) -> str:
    """The export location as Spark reads it: an absolute path for a local folder."""
    if "://" in url:
        return url
    import os

    return os.path.abspath(url)


def train_on_spark(
    store: Store,
    models: ModelStore,
    export_url: str,
    rules: Mapping[str, EventRule],
    half_lives: Mapping[str, float],
    now: float,
    params: SparkAlsParams | None = None,
    master: str = "local[*]",
    conf: Mapping[str, str] | None = None,
    spark: Any = None,
    progress: Callable[[str], None] = lambda _: None,
) -> TrainReport:
    """Train on Spark from the export at ``export_url`` and publish the model.

    Refused when a person was erased after the export was made (it may hold their events),
    and, as in-process, not published when an erasure commits while Spark is training.
    """
    p = params or SparkAlsParams()
    manifest = read_manifest(export_url)
    erasures = store.erasure_seq()
    if int(manifest.get("erasure_seq", -1)) != erasures:
        raise Conflict(
            "a person was erased after this export was made; run `tactful export-events --overwrite` again",
            field="export",
        )
    item_ids = store.item_ids()
    if not item_ids:
        raise ValidationError("nothing to train on: the catalog is empty", field="items")
    root = spark_path(export_url).rstrip("/")
    own = spark is None
    if own:
        progress(f"starting Spark ({master})")
        spark = spark_session(master, conf=conf)
    try:
        progress(f"training ALS on Spark from {export_url}")
        result = train_spark_factors(
            spark,
            posixpath.join(root, EVENTS),
            posixpath.join(root, CONSENTS),
            rules,
            half_lives,
            now,
            item_ids,
            p,
        )
    finally:
        if own:
            spark.stop()
    config = RecommenderConfig(
        value_kind=result.value_kind,
        tune=False,
        weighting=result.weighting,
        factors=p.factors,
        factor_iterations=p.iterations,
        factor_regularization=result.fold_regularization,
        factor_alpha=p.alpha,
        factor_weight=1.0,
        seed=p.seed,
    )
    extra = {
        "engine": "spark",
        "spark_regularization": p.regularization,
        "export_last_seq": int(manifest.get("last_seq", 0)),
        "people": result.people,
        "interactions": result.interactions,
    }
    artifact = factor_artifact(
        item_ids, result.item_factors, result.popularity, config, result.seconds, extra
    )
    progress("saving artifact")
    path = models.save(artifact)
    if store.erasure_seq() != erasures:
        models.remove(artifact.version)
        raise Conflict(
            "a person was erased while Spark was training; nothing was published: export and train again",
            field="model",
        )
    models.publish(artifact.version)
    models.prune(keep=KEEP_VERSIONS)
    return TrainReport(
        artifact.version,
        path,
        result.people,
        len(item_ids),
        result.interactions,
        result.seconds,
        {},
    )
