"""Promotions in the Python API: create, update, end, read (mixed into :class:`tactful.Engine`)."""

from __future__ import annotations

import secrets
from typing import Any

import pydantic

from tactful.clock import Clock, to_epoch
from tactful.config.policy import PromotionSettings
from tactful.errors import Conflict, NotFound, UnknownItem, ValidationError
from tactful.policy.promotions import Promotion, PromotionSpec, PromotionUpdate
from tactful.security.audit import AuditLog
from tactful.storage.protocol import PolicyStore, PromotionFields, Store


def _validated(model: type[pydantic.BaseModel], value: Any) -> Any:
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or None
        raise ValidationError(str(first.get("msg", "invalid promotion")), field=field) from None


class PromotionService:
    """Business-chosen items or tags, targeted on established interests, capped per person."""

    def __init__(
        self,
        store: Store,
        policy_store: PolicyStore,
        clock: Clock,
        defaults: PromotionSettings,
        audit: AuditLog,
    ) -> None:
        self.store = store
        self.policy_store = policy_store
        self.clock = clock
        self.defaults = defaults
        self.audit = audit

    def _check_items(self, items: list[str]) -> None:
        known = self.store.item_tags(items)
        for n, item in enumerate(items):
            if item not in known:
                raise UnknownItem(f"unknown item {item!r}", field=f"items[{n}]")

    def _audit_promotion(self, action: str, actor: str, subject: str, details: dict[str, Any]) -> None:
        self.audit.record(action, actor, subject=subject, details=details)

    def create_promotion(self, body: PromotionSpec | dict[str, Any], actor: str = "python") -> Promotion:
        """Start promoting items or tags; ``actor`` is recorded in the audit log."""
        spec: PromotionSpec = _validated(PromotionSpec, body)
        now = to_epoch(self.clock.now())
        self._check_items(spec.items)
        pid = spec.id or "p_" + secrets.token_hex(8)
        if self.policy_store.get_promotion(pid, now) is not None:
            raise Conflict(f"promotion {pid!r} exists", field="id")
        defaults = self.defaults
        values: PromotionFields = {
            "id": pid,
            "name": spec.name,
            "items": list(spec.items),
            "tags": list(spec.tags),
            "target_tags": list(spec.target_tags),
            "surfaces": list(spec.surfaces),
            "cap": spec.cap or defaults.default_cap,
            "window_days": spec.window_days or defaults.default_window_days,
            "starts_at": to_epoch(spec.starts_at) if spec.starts_at else now,
            "ends_at": to_epoch(spec.ends_at) if spec.ends_at else None,
            "ended_at": None,
            "created_at": now,
            "updated_at": now,
        }
        if values["ends_at"] is not None and values["ends_at"] <= values["starts_at"]:
            raise ValidationError("ends_at must be after starts_at", field="ends_at")
        promotion = self.policy_store.insert_promotion(values, now)
        self._audit_promotion("promotion.create", actor, pid, {"items": len(spec.items), "tags": spec.tags})
        return promotion

    def update_promotion(
        self, promotion_id: str, body: PromotionUpdate | dict[str, Any], actor: str = "python"
    ) -> Promotion:
        """Change some fields of a running or scheduled promotion."""
        update: PromotionUpdate = _validated(PromotionUpdate, body)
        now = to_epoch(self.clock.now())
        current = self.get_promotion(promotion_id)
        if current.status == "ended":
            raise Conflict(f"promotion {promotion_id!r} has ended", field="promotion_id")
        changes = update.model_dump(exclude_unset=True)
        merged = current.model_dump(include=set(PromotionSpec.model_fields) - {"id"}) | changes
        try:
            _validated(PromotionSpec, merged)
        except ValidationError as exc:  # a valid change that does not fit this promotion's state
            raise Conflict(f"{exc.message} (after this change)", field=exc.field) from None
        if "items" in changes:
            self._check_items(changes["items"])
        values: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "starts_at":  # null: start now, as when a promotion is created without one
                values[key] = now if value is None else to_epoch(value)
            elif key == "ends_at":
                values[key] = None if value is None else to_epoch(value)
            elif value is not None or key not in ("cap", "window_days", "name"):
                values[key] = value
        values["updated_at"] = now
        found = self.policy_store.update_promotion(promotion_id, values, now)
        if found is None:
            raise NotFound(f"no promotion {promotion_id!r}", field="promotion_id")
        self._audit_promotion("promotion.update", actor, promotion_id, {"fields": sorted(changes)})
        return found

    def end_promotion(self, promotion_id: str, actor: str = "python") -> Promotion:
        """Stop a promotion now; ending an ended promotion changes nothing."""
        now = to_epoch(self.clock.now())
        current = self.get_promotion(promotion_id)
        if current.ended_at is not None:
            return current
        found = self.policy_store.update_promotion(promotion_id, {"ended_at": now, "updated_at": now}, now)
        if found is None:
            raise NotFound(f"no promotion {promotion_id!r}", field="promotion_id")
        self._audit_promotion("promotion.end", actor, promotion_id, {})
        return found

    def get_promotion(self, promotion_id: str) -> Promotion:
        found = self.policy_store.get_promotion(promotion_id, to_epoch(self.clock.now()))
        if found is None:
            raise NotFound(f"no promotion {promotion_id!r}", field="promotion_id")
        return found

    def promotions(self, include_ended: bool = True) -> list[Promotion]:
        return self.policy_store.list_promotions(to_epoch(self.clock.now()), include_ended)
