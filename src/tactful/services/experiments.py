"""Experiments at serving time: who gets which variant, exposures, guardrails and ramps.

:class:`ExperimentService` stores experiments (through :class:`ExperimentStore`), keeps the
running ones in memory (reread every ``refresh_seconds``, at once after its own changes),
and for each request without caller overrides answers which variants the person is in
(:meth:`assign`) and the :class:`RunConfig` they run under. After the list is served,
:meth:`served` buffers the exposure (once per person, experiment and variant: the store's
key makes it exact across workers) and the served list, for attribution, in
:class:`ExposureLog`.

:meth:`evaluate` (and :meth:`tick`, every experiment) builds the report, decides (roll back
on a guardrail that is significantly worse under the sequential test; otherwise take a due
rollout step only while healthy) and writes every decision to the audit log with its
figures. State changes are compare-and-set on the experiment's version, so two workers
ticking at once take one step, once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic

from tactful.clock import Clock, from_epoch, to_epoch
from tactful.config.experiments import ExperimentSettings, HoldoutMode
from tactful.config.run import RunConfig, _merge
from tactful.errors import Conflict, NotFound, Overloaded, StorageError, ValidationError
from tactful.experiments.analysis import Decision, ExperimentReport, build_report, decide
from tactful.experiments.assignment import allocate_slot, bucket, variant_for, variant_ranges
from tactful.experiments.metrics import ATTRIBUTED_TYPES
from tactful.experiments.model import (
    BUCKETS,
    HOLDOUT_ID,
    Experiment,
    ExperimentSpec,
    Status,
    VariantSpec,
)
from tactful.security.audit import AuditLog
from tactful.services.tombstones import Tombstones
from tactful.signals.profile import Engagement
from tactful.storage.protocol import ErasureCheck, ExperimentServedRecord, ExperimentStore, ExposureRecord

log = logging.getLogger("tactful.experiments")
HOLDOUT_VARIANTS = ("holdout", "personalized")


@dataclass(frozen=True)
class Membership:
    experiment_id: str
    variant: str


@dataclass(frozen=True)
class Assignment:
    """What a request runs under: the composed config and the variants the person is in."""

    config: RunConfig
    memberships: tuple[Membership, ...]


@dataclass(frozen=True)
class _Running:
    experiment: Experiment
    ranges: list[tuple[int, int]]
    salt: str
    namespace: str
    surfaces: frozenset[str]
    engagement: frozenset[str]


class ExposureLog:
    """Buffers exposures and experiment-served lists; a background thread writes them in batches.

    Each worker sends a person's exposure to an experiment once (it remembers what it sent);
    the store keeps the first per person and experiment whatever several workers send.
    A failed write keeps everything buffered and is retried on the next round; a full
    buffer refuses new requests (``Overloaded``) rather than losing exposures.
    """

    def __init__(
        self,
        store: ExperimentStore,
        interval: float = 0.25,
        tombstones: Tombstones | None = None,
        max_pending: int = 50_000,
        max_seen: int = 500_000,
    ) -> None:
        self.store = store
        self.interval = interval
        self.tombstones = tombstones
        self.max_pending = max_pending
        self.max_seen = max_seen
        self._exposures: list[ExposureRecord] = []
        self._served: list[ExperimentServedRecord] = []
        self._seen: dict[str, set[str]] = {}
        self._seen_count = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tactful-exposures", daemon=True)
        self._thread.start()

    def add(
        self,
        rec_id: str,
        user_id: str,
        surface: str,
        at: float,
        items: int,
        memberships: Iterable[Membership],
    ) -> None:
        with self._lock:
            if len(self._served) >= self.max_pending:
                raise Overloaded(
                    f"{len(self._served)} experiment records are waiting for the database; retry shortly"
                )
            seen = self._seen.setdefault(user_id, set())
            for m in memberships:
                key = f"{m.experiment_id}\x00{m.variant}"
                if key not in seen:
                    seen.add(key)
                    self._seen_count += 1
                    self._exposures.append(
                        ExposureRecord(m.experiment_id, user_id, m.variant, at, surface, rec_id)
                    )
                self._served.append(
                    ExperimentServedRecord(rec_id, m.experiment_id, user_id, m.variant, at, items)
                )
            if self._seen_count > self.max_seen:  # only saves writes; the store's key keeps it exact
                self._seen.clear()
                self._seen_count = 0
        if self._stop.is_set():
            self.flush()

    def forget(self, user_id: str) -> None:
        with self._lock:
            self._seen.pop(user_id, None)

    @property
    def pending(self) -> int:
        return len(self._served) + len(self._exposures)

    def flush(self) -> int:
        """Write everything buffered now; returns the new exposures stored."""
        with self._flush_lock:
            with self._lock:
                exposures, served = list(self._exposures), list(self._served)
            if not exposures and not served:
                return 0
            check: ErasureCheck | None = None
            if self.tombstones is not None:
                check = self.tombstones.check({r.user_id for r in exposures} | {r.user_id for r in served})
            try:
                written = self.store.save_exposures(exposures, served, check=check)
            except Exception as exc:
                raise StorageError(f"could not write experiment exposures: {exc}") from exc
            with self._lock:
                del self._exposures[: len(exposures)]
                del self._served[: len(served)]
            return written

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception as exc:
                log.warning("experiment exposures not written yet (%s); kept, retrying", exc)

    def close(self, attempts: int = 20) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        for attempt in range(attempts):
            try:
                self.flush()
                return
            except StorageError as exc:
                if attempt == attempts - 1:
                    log.error("closing with %d experiment records unwritten: %s", self.pending, exc)
                    raise
                time.sleep(min(0.05 * 2**attempt, 1.0))


def _round(value: Any) -> Any:
    """Figures for the audit log: floats to 6 significant digits (keeps entries small)."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


class ExperimentService:
    """Creates, runs, assigns, evaluates and reports experiments and the global holdout."""

    def __init__(
        self,
        store: ExperimentStore,
        clock: Clock,
        audit: AuditLog,
        base: RunConfig,
        scorers: Collection[str],
        settings: ExperimentSettings,
        tombstones: Tombstones | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.audit = audit
        self.base = base
        self.scorers = tuple(scorers)
        self.settings = settings
        self.log = ExposureLog(store, settings.exposure_flush_seconds, tombstones)
        self._lock = threading.Lock()
        self._running: list[_Running] | None = None
        self._loaded = 0.0
        self._configs: dict[tuple[tuple[str, str], ...], RunConfig] = {}
        self.holdout_config = self._holdout_config()

    # -- definitions -------------------------------------------------------------------------
    def _variant_config(self, variants: list[VariantSpec]) -> None:
        for k, v in enumerate(variants):
            try:
                self.base.with_overrides(v.config, self.scorers)
            except ValidationError as exc:
                field = f"variants.{k}.config" + (f".{exc.field}" if exc.field else "")
                raise ValidationError(f"variant {v.name!r}: {exc.message}", field=field) from None

    def _holdout_config(self) -> RunConfig:
        """Non-personalized everywhere: the general-content mix for every engagement level and
        no stated-interest share; the respect rules (mutes, dislikes, consent) still apply."""
        general = {
            k: (w if k in ("popularity", "trending") else 0.0) for k, w in self.base.blend["new"].items()
        }
        if not any(general.values()):
            general = {k: (1.0 if k == "popularity" else 0.0) for k in general}
        overrides: dict[str, Any] = {
            "blend": {level: dict(general) for level in self.base.blend},
            "surfaces": {name: {"stated_share": 0.0} for name in self.base.surfaces},
        }
        return self.base.with_overrides(overrides, self.scorers)

    def create(self, body: ExperimentSpec | Mapping[str, Any], actor: str = "python") -> Experiment:
        spec = self._spec(body)
        if spec.id == HOLDOUT_ID:
            raise Conflict(f"{HOLDOUT_ID!r} is reserved for the global holdout's report", field="id")
        self._variant_config(spec.variants)
        now = self.clock.now()
        size = int(round(spec.traffic * BUCKETS / 100))
        taken = [
            e.slot
            for e in self.store.list_experiments(spec.namespace_name)
            if e.status in (Status.draft, Status.running)
        ]
        slot = allocate_slot(size, taken)
        if slot is None:
            raise Conflict(
                f"namespace {spec.namespace_name!r} has no free {spec.traffic:g}% left for this experiment",
                field="traffic",
            )
        experiment = Experiment(spec=spec, slot=slot, created_at=now, updated_at=now)
        self.store.insert_experiment(experiment)
        self._check_slot(experiment)
        self.audit.record(
            "experiment.create",
            actor,
            spec.id,
            {
                "variants": {v.name: v.weight for v in spec.variants},
                "namespace": spec.namespace_name,
                "slot": list(slot),
            },
        )
        self.invalidate()
        return experiment

    def _check_slot(self, experiment: Experiment) -> None:
        """After the insert: if another experiment of the namespace created at the same
        moment (another worker) took an overlapping slot, the later of the two (by creation
        time, then id) withdraws, so the namespace stays exclusive."""
        lo, hi = experiment.slot
        key = (experiment.created_at, experiment.id)
        for other in self.store.list_experiments(experiment.spec.namespace_name):
            if other.id == experiment.id or other.status not in (Status.draft, Status.running):
                continue
            if other.slot[0] < hi and lo < other.slot[1] and (other.created_at, other.id) < key:
                now = self.clock.now()
                withdrawn = experiment.model_copy(
                    update={
                        "status": Status.stopped,
                        "stopped_at": now,
                        "reason": f"slot taken by {other.id} created at the same time",
                        "version": experiment.version + 1,
                    }
                )
                self.store.update_experiment(withdrawn, experiment.version)
                raise Conflict(
                    f"namespace {experiment.spec.namespace_name!r}: {other.id!r} took the same buckets "
                    "at the same time; create again",
                    field="namespace",
                )

    @staticmethod
    def _spec(body: ExperimentSpec | Mapping[str, Any]) -> ExperimentSpec:
        if isinstance(body, ExperimentSpec):
            return body
        try:
            return ExperimentSpec.model_validate(body)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or None
            raise ValidationError(f"invalid experiment: {first.get('msg')}", field=field) from None

    def get(self, experiment_id: str) -> Experiment:
        experiment = self.store.get_experiment(experiment_id)
        if experiment is None:
            raise NotFound(f"no experiment {experiment_id!r}", field="experiment_id")
        return experiment

    def all(self) -> list[Experiment]:
        return self.store.list_experiments()

    def _change(
        self,
        experiment_id: str,
        change: Callable[[Experiment, datetime], dict[str, Any] | None],
        action: str,
        actor: str,
        details: Callable[[Experiment, Experiment], dict[str, Any]],
    ) -> Experiment:
        for _ in range(5):
            current = self.get(experiment_id)
            now = self.clock.now()
            update = change(current, now)
            if update is None:
                return current
            new = current.model_copy(update={**update, "updated_at": now, "version": current.version + 1})
            if self.store.update_experiment(new, current.version):
                self.audit.record(action, actor, experiment_id, _round(details(current, new)))
                self.invalidate()
                return new
        raise Conflict(
            f"experiment {experiment_id!r} is being changed elsewhere; retry", field="experiment_id"
        )

    def start(self, experiment_id: str, actor: str = "python") -> Experiment:
        def change(e: Experiment, now: datetime) -> dict[str, Any]:
            if e.status is not Status.draft:
                raise Conflict(
                    f"experiment {experiment_id!r} is {e.status.value}; only a draft starts", field="status"
                )
            first = e.spec.rollout.steps[0].percent
            return {"status": Status.running, "step": 0, "percent": first, "started_at": now, "step_at": now}

        return self._change(
            experiment_id,
            change,
            "experiment.start",
            actor,
            lambda _, n: {"percent": n.percent, "step": n.step},
        )

    def ramp(self, experiment_id: str, percent: float, actor: str = "python") -> Experiment:
        """Raise the exposed share by hand (ramps only add people; lowering is refused)."""

        def change(e: Experiment, now: datetime) -> dict[str, Any]:
            if e.status is not Status.running:
                raise Conflict(
                    f"experiment {experiment_id!r} is {e.status.value}; only a running one ramps",
                    field="status",
                )
            if percent < e.percent:
                raise ValidationError(
                    f"a ramp only adds people: {percent:g}% is below the current "
                    f"{e.percent:g}% (stop instead)",
                    field="percent",
                )
            steps = [k for k, s in enumerate(e.spec.rollout.steps) if s.percent <= percent]
            step = max([e.step, *steps])
            return {"percent": percent, "step": step, "step_at": now if step != e.step else e.step_at}

        return self._change(
            experiment_id,
            change,
            "experiment.ramp",
            actor,
            lambda o, n: {"from_percent": o.percent, "to_percent": n.percent, "step": n.step},
        )

    def stop(self, experiment_id: str, reason: str = "", actor: str = "python") -> Experiment:
        def change(e: Experiment, now: datetime) -> dict[str, Any] | None:
            if e.status in (Status.stopped, Status.rolled_back):
                return None
            return {"status": Status.stopped, "stopped_at": now, "reason": reason or "stopped"}

        return self._change(
            experiment_id,
            change,
            "experiment.stop",
            actor,
            lambda o, n: {"from": o.status.value, "reason": n.reason},
        )

    # -- assignment --------------------------------------------------------------------------
    def invalidate(self) -> None:
        with self._lock:
            self._running = None

    def running(self) -> list[_Running]:
        with self._lock:
            fresh = (
                self._running is not None and time.monotonic() - self._loaded < self.settings.refresh_seconds
            )
            if fresh and self._running is not None:
                return self._running
        out = []
        for e in self.store.list_experiments():
            if e.assigning:
                out.append(
                    _Running(
                        experiment=e,
                        ranges=variant_ranges([v.weight for v in e.spec.variants]),
                        salt=e.spec.hash_salt,
                        namespace=e.spec.namespace_name,
                        surfaces=frozenset(e.spec.surfaces),
                        engagement=frozenset(x.value for x in e.spec.engagement),
                    )
                )
        with self._lock:
            self._running, self._loaded = out, time.monotonic()
        return out

    def holdout_active(self) -> bool:
        """Whether the global holdout is kept now (``auto``: while any experiment runs)."""
        mode = self.settings.holdout
        return mode is HoldoutMode.on or (mode is HoldoutMode.auto and bool(self.running()))

    def in_holdout(self, user_id: str) -> bool:
        s = self.settings
        return self.holdout_active() and bucket(f"holdout:{s.holdout_salt}", user_id) < int(
            round(s.holdout_percent * 100)
        )

    def assign(self, user_id: str, surface: str, engagement: Callable[[], Engagement]) -> Assignment | None:
        """The variants the person is in on this surface and the config they compose to (None:
        in nothing, the base config as is). ``engagement`` is asked only when targeting needs it."""
        if self.holdout_active():
            held = self.in_holdout(user_id)
            variant = HOLDOUT_VARIANTS[0] if held else HOLDOUT_VARIANTS[1]
            holdout: tuple[Membership, ...] = (Membership(HOLDOUT_ID, variant),)
            if held:
                return Assignment(self.holdout_config, holdout)
        else:
            holdout = ()
        running = self.running()
        if not running:
            return Assignment(self.base, holdout) if holdout else None
        level: str | None = None
        chosen: list[tuple[Membership, VariantSpec]] = []
        for r in running:
            if r.surfaces and surface not in r.surfaces:
                continue
            lo, hi = r.experiment.slot
            if not lo <= bucket(f"ns:{r.namespace}", user_id) < hi:
                continue
            if r.engagement:
                level = level or engagement().value
                if level not in r.engagement:
                    continue
            index = variant_for(bucket(r.salt, user_id), r.ranges, r.experiment.percent)
            if index is None:
                continue
            spec = r.experiment.spec.variants[index]
            chosen.append((Membership(r.experiment.id, spec.name), spec))
        if not chosen and not holdout:
            return None
        return Assignment(
            self._compose([c for _, c in chosen], [m for m, _ in chosen]),
            holdout + tuple(m for m, _ in chosen),
        )

    def _compose(self, variants: list[VariantSpec], members: list[Membership]) -> RunConfig:
        key = tuple((m.experiment_id, m.variant) for m, v in zip(members, variants, strict=True) if v.config)
        if not key:
            return self.base
        config = self._configs.get(key)
        if config is None:
            merged: dict[str, Any] = {}
            for v in variants:
                merged = _merge(merged, v.config, "", 0)
            config = self.base.with_overrides(merged, self.scorers)
            if len(self._configs) > 1024:
                self._configs.clear()
            self._configs[key] = config
        return config

    def served(
        self, rec_id: str, user_id: str, surface: str, at: float, items: int, assignment: Assignment
    ) -> None:
        """Log the exposures (first time only) and the list, for attribution."""
        if assignment.memberships:
            self.log.add(rec_id, user_id, surface, at, items, assignment.memberships)

    def forget(self, user_id: str) -> None:
        self.log.forget(user_id)

    # -- analysis and decisions --------------------------------------------------------------
    def holdout_experiment(self) -> Experiment:
        s = self.settings
        spec = ExperimentSpec(
            id="holdout-lift",
            name="Global holdout: personalization against non-personalized content",
            variants=[
                VariantSpec(name=HOLDOUT_VARIANTS[0], weight=max(s.holdout_percent, 0.01)),
                VariantSpec(name=HOLDOUT_VARIANTS[1], weight=max(100 - s.holdout_percent, 0.01)),
            ],
            metrics=["ctr", "save_rate", "conversion", "recs_per_person"],
        )
        spec = spec.model_copy(update={"id": HOLDOUT_ID})
        data = self.store.experiment_data(HOLDOUT_ID, self._window(spec), (), to_epoch(self.clock.now()))
        first = min((t for _, _, t in data.exposures), default=to_epoch(self.clock.now()))
        at = from_epoch(first)
        status = Status.running if self.holdout_active() else Status.stopped
        return Experiment(
            spec=spec, status=status, step=0, percent=100, created_at=at, updated_at=at, started_at=at
        )

    def _window(self, spec: ExperimentSpec) -> float:
        hours = spec.attribution_window_hours or self.settings.attribution_window_hours
        return hours * 3600.0

    def report(self, experiment_id: str) -> ExperimentReport:
        experiment = self.holdout_experiment() if experiment_id == HOLDOUT_ID else self.get(experiment_id)
        now = self.clock.now()
        data = self.store.experiment_data(
            experiment_id,
            self._window(experiment.spec),
            ATTRIBUTED_TYPES,
            to_epoch(now),
            prior=experiment.spec.cuped,
        )
        return build_report(experiment, data, now)

    def evaluate(self, experiment_id: str, actor: str = "scheduler") -> Decision:
        """Check guardrails and health now; roll back, hold or take the due step (audited)."""
        if experiment_id == HOLDOUT_ID:
            return Decision(
                action="none", reasons=[], message="the global holdout is reported, never rolled back"
            )
        report = self.report(experiment_id)
        experiment = report.experiment
        now = self.clock.now()
        decision = decide(experiment, report, now)
        if decision.action == "none":
            return decision
        details = {
            "decision": decision.action,
            "reasons": decision.reasons,
            "message": decision.message[:500],
            "figures": decision.figures,
            "srm": {"p": report.srm.p_value, "observed": report.srm.observed},
            "percent": experiment.percent,
            "to_percent": decision.to_percent,
        }
        if decision.action == "hold":
            if experiment.reason == decision.message:
                return decision  # the same hold as last time: audited once
            update: dict[str, Any] = {"reason": decision.message}
        elif decision.action == "rollback":
            update = {"status": Status.rolled_back, "stopped_at": now, "reason": decision.message}
        else:
            update = {"step": decision.to_step, "percent": decision.to_percent, "step_at": now, "reason": ""}
        new = experiment.model_copy(update={**update, "updated_at": now, "version": experiment.version + 1})
        if not self.store.update_experiment(new, experiment.version):
            return Decision(
                action="none", reasons=["changed_elsewhere"], message="another worker decided first"
            )
        self.audit.record(f"experiment.{decision.action}", actor, experiment_id, _round(details))
        self.invalidate()
        return decision

    def tick(self, actor: str = "scheduler") -> dict[str, Decision]:
        """Evaluate every running experiment."""
        out: dict[str, Decision] = {}
        for e in self.store.list_experiments():
            if e.status is Status.running:
                try:
                    out[e.id] = self.evaluate(e.id, actor)
                except Exception:
                    log.exception("evaluating experiment %s failed", e.id)
        return out

    def close(self) -> None:
        self.log.close()


class ExperimentTicker:
    """Evaluates every running experiment every ``every_s`` seconds in a background thread
    (guardrails, health, due rollout steps); ``tactful serve`` runs one in the supervisor."""

    def __init__(self, service: ExperimentService, every_s: float) -> None:
        self.service = service
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.every_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="tactful-experiments", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.service.tick()
            except Exception:
                log.exception("experiment tick failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
