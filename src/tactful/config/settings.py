"""The one settings object: ``TACTFUL_`` environment variables, an optional TOML file, defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tactful.config.experiments import ExperimentSettings
from tactful.config.messaging import MessagingSettings
from tactful.config.policy import PolicySettings, SurfaceSettings, default_surfaces
from tactful.config.run import check_blend
from tactful.config.security import AuthSettings, HttpSettings, WebSettings
from tactful.signals.rules import EventRule


class SignalSettings(BaseModel):
    """How raw events become signals (P3) and how fast they fade (P9)."""

    short_play_seconds: float = Field(30.0, ge=0, description="A play shorter than this is a skip.")
    half_life_days: dict[str, float] = Field(
        default_factory=lambda: {
            "explicit": 180.0,
            "observed": 45.0,
            "inferred": 21.0,
            "imported": 21.0,
        },
        description="Interest half-life per provenance, in days.",
    )
    rules: dict[str, EventRule] = Field(
        default_factory=dict,
        description="Event rules by type, overriding or adding to the built-in table.",
    )


class ProfileSettings(BaseModel):
    """Evidence and engagement thresholds (P5, P6)."""

    evidence_threshold: int = Field(
        3, ge=1, description="Distinct days/sessions before an interest is established."
    )
    warming_after: int = Field(3, ge=1, description="Positive signals before a person is 'warming'.")
    engaged_after: int = Field(15, ge=1, description="Positive signals before a person is 'engaged'.")
    engaged_min_days: int = Field(2, ge=1, description="Distinct active days needed to be 'engaged'.")
    max_evidence_keys: int = Field(32, ge=4, description="Distinct evidence keys kept per interest.")


class ScoringSettings(BaseModel):
    """Blend weights per engagement level and the trending half-life."""

    trending_half_life_days: float = Field(3.0, gt=0, description="Half-life of the trending score.")
    blend: dict[str, dict[str, float]] = Field(
        description="Scorer weights per engagement level (new people get general content only).",
        default_factory=lambda: {
            "new": {"popularity": 0.7, "trending": 0.3, "content": 0.0, "collaborative": 0.0},
            "warming": {"popularity": 0.35, "trending": 0.15, "content": 0.3, "collaborative": 0.2},
            "engaged": {"popularity": 0.1, "trending": 0.05, "content": 0.25, "collaborative": 0.6},
        },
    )
    similar_tag_penalty: float = Field(
        0.5,
        ge=0,
        le=1,
        description=(
            "Strongest multiplier for items sharing a tag with a disliked item (a creator, or a "
            "specific tag the person has no positive evidence for); common tags the person "
            "likes on many days are demoted far less."
        ),
    )
    negative_item_rate: float = Field(
        1.0,
        ge=0,
        le=100,
        description=(
            "How much an item's own negative signals (skips, short plays) demote it: "
            "multiplier 1 / (1 + rate * |weight|); one skip (-0.5) gives 0.67. 0 turns it off."
        ),
    )

    @field_validator("blend")
    @classmethod
    def _blend_levels(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        check_blend(value)
        for level, weights in value.items():
            for name, weight in weights.items():
                if not 0.0 <= weight <= 100.0:
                    raise ValueError(f"blend.{level}.{name} must be between 0 and 100, got {weight}")
        return value


class ModelSettings(BaseModel):
    """Training and serving of the collaborative model (issue: relevance)."""

    reload_check_seconds: float = Field(
        2.0, gt=0, description="How often a worker looks for a newly published model."
    )
    retrain_every_minutes: float = Field(
        360.0, ge=0, description="`tactful serve` retrains at least this often (0 turns the schedule off)."
    )
    serving_blas_threads: int = Field(
        1,
        ge=0,
        description="BLAS threads in `tactful serve` processes (0 = library default); one avoids jitter "
        "on single-person requests.",
    )
    fold_cache_size: int = Field(
        512,
        ge=0,
        description="People with long histories whose folded model sums and scores a worker keeps, so "
        "their next request applies only the signals that changed (0: fold every history from "
        "scratch). Each costs about 12 bytes per catalog item plus 32 KB.",
    )
    fold_tolerance: float = Field(
        1e-3,
        ge=0,
        le=0.1,
        description="Relative change in an item's decayed weight below which a kept fold reuses its "
        "sums (0: any change is applied).",
    )
    retrain_after_events: int = Field(
        50_000,
        ge=0,
        description="...or as soon as this many new events arrived since the last training (0: off).",
    )
    store_url: str | None = Field(
        None,
        max_length=2048,
        description="Where model versions are written and read (fsspec URL: a folder, "
        "s3://bucket/prefix with the 's3' extra, ...); several hosts and a Spark driver can share "
        "it. Default <data_dir>/models.",
    )


class ServingSettings(BaseModel):
    """How a `tactful serve` worker runs requests.

    Routes are async: the event loop parses, validates and serializes, and hands each engine
    call to a small thread pool. Engine work is mostly CPU-bound Python that holds the GIL,
    so a few threads keep the CPU busy (one can run while another waits on the database)
    and more only add contention: throughput stays flat as connections rise instead of
    falling. Reads (recommendations, profiles, lookups) and writes (events, catalog,
    preferences, erasure) have pools of their own, so a long batch never holds up a
    recommendation. A request that finds its pool's queue full is refused at once with 503
    ``overloaded`` and ``Retry-After``, before any work is done.
    """

    read_threads: int = Field(
        2, ge=1, le=64, description="Threads per worker process for recommendations and other reads."
    )
    write_threads: int = Field(
        2, ge=1, le=64, description="Threads per worker process for events, catalog and profile writes."
    )
    queue: int = Field(
        64,
        ge=0,
        le=100_000,
        description="Requests per pool and worker that may wait for a thread; beyond that a request "
        "gets 503 with Retry-After.",
    )
    retry_after_seconds: int = Field(
        1, ge=1, le=3600, description="The Retry-After a shed request is given, in seconds."
    )
    access_log: bool = Field(True, description="Log one line per request (uvicorn's access log).")
    answer_cache_size: int = Field(
        4096,
        ge=0,
        le=1_000_000,
        description="Recent lists each worker (and in-process engine) keeps per person, surface and "
        "length, and serves again while nothing they depend on changed: the person, catalog, "
        "promotions, model and back-off versions, checked on every request. 0 turns it off.",
    )
    answer_cache_seconds: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="The longest a kept list is served again, in seconds, so that time-driven "
        "changes (decay, trending) show within this bound; a list also expires at the end of the "
        "day and at the next item availability or promotion start or end. 0 turns it off.",
    )
    erasure_clock_margin_seconds: float = Field(
        2.0,
        ge=0,
        le=3600,
        description="Buffered served lists and back-off counters of an erased person are dropped "
        "if produced up to this long after the erasure (allows for hosts' clocks differing).",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="`tactful serve` logs: text for people, json for log shippers (one object per line "
        "with time, level, logger, message and the request id).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest level logged."
    )
    metrics: Literal["public", "admin", "off"] = Field(
        "public",
        description="Prometheus metrics at /metrics: open to scrapers (no person ids in them), only "
        "with an admin key, or not served.",
    )
    shutdown_grace_seconds: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="On SIGTERM/SIGINT a worker stops accepting, finishes requests in flight for up to "
        "this long, then writes its buffered served lists and exits.",
    )
    worker_healthcheck_seconds: float = Field(
        30.0,
        ge=1,
        le=600,
        description="With several workers, the supervisor replaces a worker that has not answered its "
        "ping for this long (a worker busy loading a model on a loaded machine must not be killed).",
    )
    opentelemetry: bool = Field(
        False,
        description="Trace requests with OpenTelemetry (needs the otel extra; exporters are configured "
        "by the standard OTEL_* variables).",
    )
    erasure_tombstone_days: float = Field(
        30.0,
        ge=1,
        le=3650,
        description="How long an erasure's tombstone (a keyed hash and a time, never the id) is "
        "kept for workers' buffered writes to be checked against.",
    )


class SparkSettings(BaseModel):
    """Exporting events and training on Spark (`tactful export-events`, `tactful train --engine spark`)."""

    export_url: str | None = Field(
        None,
        max_length=2048,
        description="Where `export-events` writes day-partitioned Parquet and `train --engine spark` "
        "reads it (a folder or fsspec URL; Spark must reach it too). Default <data_dir>/exports/events.",
    )
    master: str = Field(
        "local[*]",
        max_length=512,
        description="Spark master for `train --engine spark`: local[N], spark://host:7077, yarn, k8s://...",
    )
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="Extra Spark configuration for the training session (e.g. "
        '{"spark.executor.memory": "4g"}).',
    )


class Settings(BaseSettings):
    """Every knob tactful has, with documented defaults.

    Sources, highest priority first: constructor arguments, ``TACTFUL_*`` environment
    variables (nested with ``__``, e.g. ``TACTFUL_PROFILE__EVIDENCE_THRESHOLD=4``), the TOML
    file named by ``TACTFUL_CONFIG`` (default ``tactful.toml`` if it exists), then defaults.
    """

    model_config = SettingsConfigDict(env_prefix="TACTFUL_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Field(Path("./tactful-data"), description="SQLite file and model artifacts.")
    database_url: str | None = Field(
        None,
        description="Overrides the database location (production: postgresql+psycopg://user@host/db).",
    )
    create_schema: bool | None = Field(
        None,
        description="Create the schema when the database is empty at start-up (default: only for the "
        "embedded SQLite file; PostgreSQL is created and upgraded with `tactful db upgrade`). An "
        "outdated schema is never upgraded implicitly: servers and commands refuse it.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis shared by every worker and host (e.g. redis://127.0.0.1:6379/0): back-off "
        "counters, person-version invalidation, rate-limit buckets. Unset: each worker on its own.",
    )
    host: str = Field("127.0.0.1", description="Address `tactful serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `tactful serve` listens on.")
    default_n: int = Field(10, ge=1, le=200, description="List length when a request gives no n.")
    max_batch_events: int = Field(10_000, ge=1, description="Most events one batch may carry.")
    signals: SignalSettings = Field(default_factory=SignalSettings)
    profile: ProfileSettings = Field(default_factory=ProfileSettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    policy: PolicySettings = Field(
        default_factory=PolicySettings, description="The respect layer (P4–P12); see tactful.config.policy."
    )
    surfaces: dict[str, SurfaceSettings] = Field(
        default_factory=default_surfaces,
        description="Per-placement list shape (n, exploration share 10 %, diversity "
        "mmr|calibration|off with lambda, percent_promoted, stated_share 0.3, replay of liked or "
        "consumed items (off), include/exclude tags, disabled rules); unknown surfaces get defaults.",
    )
    models: ModelSettings = Field(default_factory=ModelSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    messaging: MessagingSettings = Field(default_factory=MessagingSettings)
    experiments: ExperimentSettings = Field(default_factory=ExperimentSettings)
    web: WebSettings = Field(default_factory=WebSettings)

    @model_validator(mode="after")
    def _demo_needs_auth_off(self) -> Settings:
        if self.web.demo and self.auth.enabled:
            raise ValueError("web.demo serves pages that act for any person: turn auth.enabled off with it")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("TACTFUL_CONFIG", "tactful.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @model_validator(mode="after")
    def _share_rate_limits(self) -> Settings:
        """With one Redis for the deployment, rate-limit buckets are shared through it too."""
        if self.redis_url and not self.auth.rate_limit.redis_url:
            self.auth.rate_limit.redis_url = self.redis_url
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tactful.sqlite3').resolve()}"

    @property
    def model_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def model_store_url(self) -> str:
        """The model store in force: ``models.store_url``, else the local ``model_dir``."""
        return self.models.store_url or str(self.model_dir)

    @property
    def resolved_export_url(self) -> str:
        """Where event exports go: ``spark.export_url``, else ``<data_dir>/exports/events``."""
        return self.spark.export_url or str(self.data_dir / "exports" / "events")

    @property
    def local_model_dir(self) -> Path | None:
        """The model store's folder when it is on this machine's disk (None for a remote URL)."""
        url = self.models.store_url
        if url is None:
            return self.model_dir
        if url.startswith("file://"):
            return Path(url[len("file://") :])
        return None if "://" in url else Path(url)
