"""``RunConfig``: the validated settings one recommendation request runs under.

Everything the plan and the pipeline read per request lives here: blend weights per
engagement level, the policy knobs, the surfaces, the ramp and the scoring knobs. The
engine builds one base config from :class:`~tactful.config.settings.Settings` at start-up
(checked against the scorers it actually has) and passes it through plan and pipeline;
a request or an experiment variant runs under ``base.with_overrides({...})``, a deep merge
that is validated again, so a typo or an out-of-range value is a clear error and never a
silent default.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Annotated, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tactful.config.policy import PolicySettings, SurfaceSettings
from tactful.errors import ConfigurationError, ValidationError

if TYPE_CHECKING:
    from tactful.config.settings import Settings

LEVELS: tuple[str, ...] = ("new", "warming", "engaged")
Weight = Annotated[float, Field(ge=0, le=100)]
MAX_OVERRIDE_DEPTH = 6


def check_blend(blend: Mapping[str, Mapping[str, float]]) -> None:
    """Every engagement level present, nothing else (raises ``ValueError``)."""
    missing = [level for level in LEVELS if level not in blend]
    if missing:
        raise ValueError(f"blend is missing engagement level(s) {', '.join(map(repr, missing))}")
    extra = sorted(set(blend) - set(LEVELS))
    if extra:
        raise ValueError(f"blend has unknown engagement level(s) {', '.join(map(repr, extra))}")


class Ramp(BaseModel):
    """Where a person sits on the engagement ramp (P5) and how the blend follows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warming_after: int = Field(3, ge=1)
    engaged_after: int = Field(15, ge=1)
    engaged_min_days: int = Field(2, ge=1)
    evidence_threshold: int = Field(3, ge=1)


class RunConfig(BaseModel):
    """One request's configuration (immutable; derive variants with :meth:`with_overrides`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blend: dict[str, dict[str, Weight]]
    policy: PolicySettings = Field(default_factory=PolicySettings)
    surfaces: dict[str, SurfaceSettings] = Field(default_factory=dict)
    ramp: Ramp = Field(default_factory=Ramp)
    similar_tag_penalty: float = Field(0.5, ge=0, le=1)
    negative_item_rate: float = Field(1.0, ge=0, le=100)
    trending_half_life_days: float = Field(3.0, gt=0, le=3650)
    default_n: int = Field(10, ge=1, le=200)

    @model_validator(mode="after")
    def _levels(self) -> RunConfig:
        check_blend(self.blend)
        return self

    @classmethod
    def from_settings(cls, settings: Settings) -> RunConfig:
        p = settings.profile
        return cls(
            blend={level: dict(w) for level, w in settings.scoring.blend.items()},
            policy=settings.policy,
            surfaces=dict(settings.surfaces),
            ramp=Ramp(
                warming_after=p.warming_after,
                engaged_after=p.engaged_after,
                engaged_min_days=p.engaged_min_days,
                evidence_threshold=p.evidence_threshold,
            ),
            similar_tag_penalty=settings.scoring.similar_tag_penalty,
            negative_item_rate=settings.scoring.negative_item_rate,
            trending_half_life_days=settings.scoring.trending_half_life_days,
            default_n=settings.default_n,
        )

    def surface(self, name: str) -> SurfaceSettings:
        """The surface's settings; a surface nobody configured gets the defaults."""
        return self.surfaces.get(name) or SurfaceSettings()

    def check_scorers(self, known: Collection[str]) -> RunConfig:
        """Raise :class:`ConfigurationError` when the blend names a scorer the engine lacks."""
        names = set(known)
        for level, weights in self.blend.items():
            unknown = sorted(set(weights) - names)
            if unknown:
                raise ConfigurationError(
                    f"blend.{level} names unknown scorer(s) {', '.join(map(repr, unknown))}; "
                    f"known: {', '.join(sorted(names))}",
                    field=f"blend.{level}.{unknown[0]}",
                )
        return self

    def with_overrides(self, overrides: Mapping[str, Any], known_scorers: Collection[str]) -> RunConfig:
        """This config deep-merged with ``overrides``, validated again.

        Raises :class:`ValidationError` naming the offending field (unknown keys, values
        out of range, a blend level missing, an unknown scorer).
        """
        if not overrides:
            return self
        merged = _merge(self.model_dump(mode="python"), overrides, "", 0)
        try:
            config = RunConfig.model_validate(merged)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or None
            raise ValidationError(f"invalid run config: {first.get('msg')}", field=field) from None
        try:
            return config.check_scorers(known_scorers)
        except ConfigurationError as exc:
            raise ValidationError(exc.message, field=exc.field) from None


def _merge(base: Any, override: Any, path: str, depth: int) -> Any:
    """Mappings merge key by key; anything else replaces."""
    if depth > MAX_OVERRIDE_DEPTH:
        raise ValidationError("run config overrides nest too deeply", field=path or None)
    if isinstance(base, dict) and isinstance(override, Mapping):
        out = dict(base)
        for key, value in override.items():
            if not isinstance(key, str):
                raise ValidationError("run config keys must be strings", field=path or None)
            where = f"{path}.{key}" if path else key
            out[key] = _merge(base.get(key), value, where, depth + 1) if key in base else value
        return out
    return override
