"""The collaborative factor model trained by Spark MLlib's ALS from a Parquet event export.

Everything heavy runs on the cluster: turning events into signal weights with the same rule
table, half-lives and consent the in-process training uses, the weighting, the ALS fit and
the popularity counts. Only the item factors (items × k floats) and per-item counts come
back to the driver, as Arrow. pyspark is imported lazily (the ``spark`` extra).

The per-(person, item) value is what ``services.training.training_data`` reads from stored
item states: ``Σ weight(event) × 0.5^(age / half-life(provenance))`` over the person's
events on the item, positive part, only provenances their consent lets personalize; of the
events that set an item state (like, save, rating, dislike) only the latest per state counts,
and none after a retraction.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tactful.errors import ValidationError
from tactful.extras import require
from tactful.models.weighting import SignalWeighting, ValueKind, default_weighting, value_kind_from_stats
from tactful.signals.rules import EventRule

DAY_SECONDS = 86_400.0
DEFAULT_PROVENANCES = ("explicit", "observed")
KNOWN_PROVENANCES = ("explicit", "observed", "inferred", "imported")


@dataclass(frozen=True)
class SparkAlsParams:
    """MLlib ALS settings. ``regularization`` is MLlib's ``regParam``, which MLlib scales by
    each person's (and item's) number of interactions, unlike ``implicit``'s fixed λ."""

    factors: int = 64
    iterations: int = 15
    regularization: float = 0.01
    alpha: float = 2.0
    seed: int = 0
    blocks: int | None = None  # user and item blocks; None lets MLlib choose

    def __post_init__(self) -> None:
        if not (1 <= self.factors <= 1024 and 1 <= self.iterations <= 200):
            raise ValidationError("factors must be 1–1024 and iterations 1–200", field="factors")
        if self.regularization <= 0 or self.alpha <= 0:
            raise ValidationError("regularization and alpha must be positive", field="regularization")


@dataclass(frozen=True)
class SparkFactors:
    """What the Spark job hands back: factors aligned with the catalog, and its figures."""

    item_factors: npt.NDArray[np.float32]
    popularity: npt.NDArray[np.float32]
    value_kind: ValueKind
    weighting: SignalWeighting
    people: int
    interactions: int
    fold_regularization: float
    seconds: float
    stats: dict[str, float] = field(default_factory=dict)


def spark_session(
    master: str = "local[2]", app_name: str = "tactful-train", conf: Mapping[str, str] | None = None
) -> Any:
    """A Spark session (``master`` as ``spark-submit`` takes it: local[N], spark://, yarn, k8s://)."""
    sql = require("pyspark.sql", "spark", "training on Spark")
    builder = sql.SparkSession.builder.master(master).appName(app_name)
    defaults = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
    }
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # read by the JVM as it starts
        # one machine: a few shuffle partitions (not the cluster default of 200), and the
        # driver bound to loopback rather than whatever address the host name resolves to
        defaults.update(
            {
                "spark.sql.shuffle.partitions": "4",
                "spark.default.parallelism": "4",
                "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1",
            }
        )
    for key, value in {**defaults, **dict(conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def weighted_interactions(
    spark: Any,
    events_path: str,
    consents_path: str | None,
    rules: Mapping[str, EventRule],
    half_lives: Mapping[str, float],
    now: float,
    item_ids: Sequence[str],
) -> Any:
    """A DataFrame ``(user_id, item, value)``: each person's positive decayed signal value per
    catalog item (``item`` is its catalog position), computed on the cluster."""
    functions = require("pyspark.sql.functions", "spark", "training on Spark")
    F: Any = functions
    events = spark.read.parquet(events_path).where(F.col("item_id").isNotNull())
    window: Any = require("pyspark.sql.window", "spark", "training on Spark").Window
    rule_rows = [
        (
            name,
            r.mode.value,
            float(r.weight),
            float(r.center),
            float(r.threshold),
            float(r.skip_weight),
            r.state or r.retracts,
        )
        for name, r in sorted(rules.items())
    ]
    rule_df = spark.createDataFrame(
        rule_rows,
        "type string, mode string, weight double, center double, threshold double, skip double, slot string",
    )
    catalog = spark.createDataFrame(
        list(zip(item_ids, range(len(item_ids)), strict=True)), "item_id string, item int"
    )
    value = F.col("value")
    weight = (
        F.when(value.isNull() | (F.col("mode") == "fixed"), F.col("weight"))
        .when(F.col("mode") == "rating", (value - F.col("center")) * F.col("weight"))
        .when(
            F.col("mode") == "duration",
            F.when(value < F.col("threshold"), F.col("skip")).otherwise(F.col("weight")),
        )
        .otherwise(F.col("weight") * F.log1p(F.greatest(value, F.lit(0.0))))
    )
    lives = F.create_map(*[x for k, v in sorted(half_lives.items()) for x in (F.lit(k), F.lit(float(v)))])
    half_life = F.coalesce(lives[F.col("provenance")], F.lit(30.0)) * DAY_SECONDS
    seconds = F.unix_micros(F.col("ts")) / 1e6
    decayed = F.when(seconds >= F.lit(now), F.col("w")).otherwise(
        F.col("w") * F.pow(F.lit(0.5), (F.lit(now) - seconds) / half_life)
    )
    # a like, save, rating or dislike is a state (P3): per person, item and state only the
    # latest statement counts (by time, then arrival), and a retraction leaves nothing
    latest = window.partitionBy("user_id", "item_id", "slot").orderBy(F.col("ts").desc(), F.col("seq").desc())
    rows = (
        events.join(F.broadcast(rule_df), "type")
        .where(F.col("provenance").isin(*KNOWN_PROVENANCES))
        .withColumn("rank", F.when(F.col("slot").isNull(), F.lit(1)).otherwise(F.row_number().over(latest)))
        .where(F.col("rank") == 1)
        .withColumn("w", weight)
        .where(F.col("w") != 0)
        .withColumn("d", decayed)
    )
    default = F.array(*[F.lit(p) for p in DEFAULT_PROVENANCES])
    if consents_path is not None:
        consents = spark.read.parquet(consents_path)
        rows = rows.join(F.broadcast(consents), "user_id", "left")
        allowed = F.when(
            F.col("personalization").isNull(), F.array_contains(default, F.col("provenance"))
        ).otherwise(F.col("personalization") & F.array_contains(F.col("provenances"), F.col("provenance")))
    else:
        allowed = F.array_contains(default, F.col("provenance"))
    return (
        rows.where(allowed)
        .groupBy("user_id", "item_id")
        .agg(F.sum("d").alias("value"))
        .where(F.col("value") > 0)
        .join(F.broadcast(catalog), "item_id")
        .select("user_id", "item", "value")
    )


def _weighting_of(df: Any) -> tuple[ValueKind, SignalWeighting, dict[str, float]]:
    """The value kind and default weighting of the values, from aggregates (as in-process)."""
    F: Any = require("pyspark.sql.functions", "spark", "training on Spark")
    v = F.col("value")

    def close(a: Any, b: Any) -> Any:  # numpy.allclose's test, element-wise
        return F.abs(a - b) <= F.lit(1e-8) + F.lit(1e-5) * F.abs(b)

    row = df.agg(
        F.count(v).alias("n"),
        F.min(v).alias("low"),
        F.max(v).alias("top"),
        F.percentile_approx(v, 0.5, 100_000).alias("median"),
        F.sum(F.when(close(v * 2, F.round(v * 2)), 0).otherwise(1)).alias("off_half"),
        F.sum(F.when(close(v, F.round(v)), 0).otherwise(1)).alias("off_int"),
    ).first()
    if row is None or not row["n"]:
        raise ValidationError("nothing to train on: the export holds no positive signals", field="export")
    kind = value_kind_from_stats(
        float(row["low"]), float(row["top"]), float(row["median"]), row["off_half"] == 0, row["off_int"] == 0
    )
    weighting = default_weighting(kind, np.array([float(row["top"])]))
    stats = {
        "n": float(row["n"]),
        "min": float(row["low"]),
        "max": float(row["top"]),
        "median": float(row["median"]),
    }
    return kind, weighting, stats


def _transformed(df: Any, weighting: SignalWeighting) -> Any:
    F: Any = require("pyspark.sql.functions", "spark", "training on Spark")
    v = F.col("value")
    if weighting.transform == "binary":
        w = F.when(v > 0, F.lit(1.0)).otherwise(F.lit(0.0))
    elif weighting.transform == "log":
        w = F.log1p(F.greatest(v, F.lit(0.0)))
    elif weighting.transform == "offset":
        w = F.greatest(v - F.lit(float(weighting.offset)), F.lit(0.0))
    else:
        w = v
    return df.withColumn("weight", w.cast("float")).where(F.col("weight") > 0)


def train_spark_factors(
    spark: Any,
    events_path: str,
    consents_path: str | None,
    rules: Mapping[str, EventRule],
    half_lives: Mapping[str, float],
    now: float,
    item_ids: Sequence[str],
    params: SparkAlsParams | None = None,
) -> SparkFactors:
    """Fit MLlib ALS (implicit preferences) on the export and bring the item factors home."""
    started = time.perf_counter()
    p = params or SparkAlsParams()
    recommendation = require("pyspark.ml.recommendation", "spark", "training on Spark")
    feature = require("pyspark.ml.feature", "spark", "training on Spark")
    F: Any = require("pyspark.sql.functions", "spark", "training on Spark")
    values = weighted_interactions(
        spark, events_path, consents_path, rules, half_lives, now, item_ids
    ).cache()
    indexed = None
    try:
        kind, weighting, stats = _weighting_of(values)
        weights = _transformed(values, weighting)
        indexer = feature.StringIndexer(inputCol="user_id", outputCol="user_index", handleInvalid="error")
        indexed = (
            indexer.fit(weights)
            .transform(weights)
            .select(F.col("user_index").cast("int").alias("user"), "item", "weight")
            .cache()
        )
        counts = indexed.agg(F.count("*").alias("n"), F.countDistinct("user").alias("people")).first()
        interactions, people = int(counts["n"]), int(counts["people"])
        if interactions == 0:
            raise ValidationError("nothing to train on: no positive weights after weighting", field="export")
        als_args: dict[str, Any] = dict(
            rank=p.factors,
            maxIter=p.iterations,
            regParam=p.regularization,
            alpha=p.alpha,
            implicitPrefs=True,
            seed=p.seed,
            userCol="user",
            itemCol="item",
            ratingCol="weight",
            coldStartStrategy="drop",
        )
        if p.blocks is not None:
            als_args.update(numUserBlocks=p.blocks, numItemBlocks=p.blocks)
        model = recommendation.ALS(**als_args).fit(indexed)
        table = model.itemFactors.toArrow()
        popular = indexed.groupBy("item").agg(F.count("*").alias("n")).toArrow()
    finally:
        values.unpersist()
        if indexed is not None:
            indexed.unpersist()
    n = len(item_ids)
    factors = np.zeros((n, p.factors), dtype=np.float32)
    ids = np.asarray(table.column("id").to_numpy(), dtype=np.int64)
    if len(ids):
        flat = np.asarray(table.column("features").combine_chunks().flatten().to_numpy(), dtype=np.float32)
        factors[ids] = flat.reshape(len(ids), p.factors)
    popularity = np.zeros(n, dtype=np.float32)
    popularity[np.asarray(popular.column("item").to_numpy(), dtype=np.int64)] = np.asarray(
        popular.column("n").to_numpy(), dtype=np.float32
    )
    # MLlib's λ grows with each person's interactions (ALS-WR); a request's fold-in uses one λ,
    # the one an average person was trained with
    fold_lambda = p.regularization * interactions / max(people, 1)
    return SparkFactors(
        item_factors=factors,
        popularity=popularity,
        value_kind=kind,
        weighting=weighting,
        people=people,
        interactions=interactions,
        fold_regularization=float(fold_lambda),
        seconds=round(time.perf_counter() - started, 3),
        stats=stats,
    )
