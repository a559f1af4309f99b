"""The operator dashboard at /admin, signed in with an admin key; every action is audited.

Overview (charts drawn here as SVG), catalog browser with editable tags and sensitivity,
person lookup (profile, the list they would get with every reason, recorded nowhere), and
the effective policy settings. Experiments and the outbox are in ``web/admin_ops.py``.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from tactful.api.auth import page_session
from tactful.api.deps import EngineDep, LanesDep
from tactful.domain.identifiers import ID_PATTERN
from tactful.domain.item import Item
from tactful.engine import Engine
from tactful.errors import TactfulError
from tactful.web.charts import bar_chart, line_chart
from tactful.web.guard import ADMIN_COOKIE, Operator, admin_operator, check_csrf, sign_in_admin
from tactful.web.render import back, page

router = APIRouter(include_in_schema=False, dependencies=[page_session()])
Csrf = Annotated[str, Form(max_length=128)]
NEGATIVE = ("dislike", "dismiss", "skip", "complaint", "unsubscribe")
SAMPLE_PEOPLE = 30


def signin_page(request: Request, engine: Engine, problem: str | None = None, status: int = 200) -> Response:
    return page(request, engine, "admin_signin.html", {"problem": problem}, status)


def audit_admin(
    engine: Engine, operator: Operator, action: str, subject: str | None = None, **details: object
) -> None:
    engine.audit.record(f"admin.page.{action}", operator.actor, subject=subject, details=details)


def overview_data(engine: Engine) -> dict[str, object]:
    activity = engine.activity(minutes=60, bucket_seconds=60)
    day = engine.activity(minutes=24 * 60, bucket_seconds=3600)
    catalog = engine.catalog()
    people = engine.store.sample_person_ids(SAMPLE_PEOPLE)
    shown: set[str] = set()
    denials: Counter[str] = Counter()
    for person in people:
        recs = engine.preview(person, n=10, explain=True)
        shown.update(r.item_id for r in recs.items)
        for ex in recs.excluded or []:
            if ex.action == "deny":
                denials[ex.reason.code] += 1
    engaged = int((catalog.interactions > 0).sum())
    total = sum(day.by_type.values())
    negative = sum(day.by_type.get(t, 0) for t in NEGATIVE)
    model = engine.models.current
    return {
        "per_minute": line_chart("Events per minute, last hour", activity.buckets, "60 min ago", "now"),
        "per_hour": line_chart("Events per hour, last 24 hours", day.buckets, "24 h ago", "now"),
        "active_hour": activity.active_people,
        "active_day": day.active_people,
        "coverage": bar_chart(
            "Catalog coverage",
            [
                ("engaged with", 100 * engaged / max(1, len(catalog.items))),
                ("recommended", 100 * len(shown) / max(1, len(catalog.items))),
            ],
        ),
        "engaged_items": engaged,
        "shown_items": len(shown),
        "items": len(catalog.items),
        "sampled": len(people),
        "negative_rate": (negative / total) if total else None,
        "negative": negative,
        "total_day": total,
        "types": bar_chart(
            "Events by type, last 24 hours", sorted(day.by_type.items(), key=lambda kv: -kv[1])[:8]
        ),
        "denials": bar_chart("Policy denials by reason (sampled lists)", denials.most_common(8))
        if denials
        else None,
        "denial_counts": denials.most_common(8),
        "model_version": engine.models.version,
        "model_meta": {}
        if model is None
        else {
            "items": model.artifact.n_items,
            "train seconds": model.artifact.train_seconds,
            **{k: v for k, v in model.artifact.extra.items() if isinstance(v, int | float | str)},
        },
    }


@router.get("/admin")
async def admin(request: Request, engine: EngineDep, lanes: LanesDep) -> Response:
    operator = admin_operator(engine, request)
    if operator is None:
        return signin_page(request, engine)
    data = await lanes.read.run(overview_data, engine)
    return page(request, engine, "admin.html", {"tab": "overview", "operator": operator, **data})


@router.post("/admin/signin")
async def signin(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    key: Annotated[str, Form(max_length=512)],
    csrf: Csrf,
) -> Response:
    check_csrf(engine, request, csrf)
    response = back(request, "/admin", "Signed in.")
    try:
        operator = await lanes.write.run(sign_in_admin, engine, request, response, key)
    except TactfulError as exc:
        return signin_page(request, engine, exc.message, 401)
    audit_admin(engine, operator, "signin")
    return response


@router.post("/admin/signout")
async def signout(request: Request, engine: EngineDep, csrf: Csrf) -> Response:
    check_csrf(engine, request, csrf)
    operator = admin_operator(engine, request)
    if operator is not None:
        audit_admin(engine, operator, "signout")
    response = back(request, "/admin", "Signed out.")
    response.delete_cookie(ADMIN_COOKIE, path="/admin")
    return response


@router.get("/admin/catalog")
async def catalog(
    request: Request,
    engine: EngineDep,
    q: Annotated[str, Query(max_length=100)] = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    operator = admin_operator(engine, request)
    if operator is None:
        return signin_page(request, engine)
    index = engine.catalog()
    needle = q.strip().lower()
    found = [
        i
        for i in index.items
        if not needle or needle in (i.title.lower() + " " + i.id.lower() + " " + " ".join(i.tags))
    ]
    return page(
        request,
        engine,
        "admin_catalog.html",
        {
            "tab": "catalog",
            "operator": operator,
            "items": found[offset : offset + 25],
            "q": q,
            "offset": offset,
            "total": len(found),
        },
    )


@router.post("/admin/catalog/item")
async def edit_item(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    item: Annotated[str, Form(pattern=ID_PATTERN)],
    tags: Annotated[str, Form(max_length=8000)],
    sensitive: Annotated[str, Form(max_length=1000)],
    csrf: Csrf,
) -> Response:
    check_csrf(engine, request, csrf)
    operator = admin_operator(engine, request)
    if operator is None:
        return signin_page(request, engine, "Sign in first.", 401)

    def work() -> str:
        current = engine.get_item(item)
        new_tags = [t.strip() for t in tags.replace("\n", ",").split(",") if t.strip()]
        new_sensitive = [c.strip() for c in sensitive.split(",") if c.strip()]
        updated = Item.model_validate(
            {**current.model_dump(mode="json"), "tags": new_tags, "sensitive": new_sensitive}
        )
        engine.upsert_items([updated])
        audit_admin(
            engine,
            operator,
            "catalog_update",
            item_id=item,
            tags_added=sorted(set(updated.tags) - set(current.tags)),
            tags_removed=sorted(set(current.tags) - set(updated.tags)),
            sensitive=updated.sensitive,
        )
        flags = ", ".join(updated.sensitive) or "no"
        return f"Saved “{updated.title or item}”: {len(updated.tags)} tags, sensitive: {flags}."

    try:
        message = await lanes.write.run(work)
    except (TactfulError, ValueError) as exc:
        message = "Nothing saved: " + (
            exc.message if isinstance(exc, TactfulError) else str(exc).splitlines()[0]
        )
    return back(request, f"/admin/catalog?q={item}", message)


@router.get("/admin/person")
async def person(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> Response:
    operator = admin_operator(engine, request)
    if operator is None:
        return signin_page(request, engine)
    context: dict[str, object] = {"tab": "person", "operator": operator, "person_id": id}
    if id:

        def look() -> dict[str, object]:
            audit_admin(engine, operator, "person_lookup", subject=engine.signer.subject_hash(id))
            recs = engine.preview(id, n=10, explain=True)
            return {
                "profile": engine.profile(id),
                "recs": recs,
                "full": json.dumps(recs.model_dump(mode="json"), indent=2)[:60_000],
            }

        context.update(await lanes.read.run(look))
    return page(request, engine, "admin_person.html", context)


@router.get("/admin/policy")
async def policy(request: Request, engine: EngineDep) -> Response:
    operator = admin_operator(engine, request)
    if operator is None:
        return signin_page(request, engine)
    settings = engine.settings
    shown = {
        "policy": settings.policy.model_dump(mode="json"),
        "surfaces": {k: v.model_dump(mode="json") for k, v in settings.surfaces.items()},
        "profile": settings.profile.model_dump(mode="json"),
        "blend": settings.scoring.model_dump(mode="json"),
    }
    return page(
        request,
        engine,
        "admin_policy.html",
        {
            "tab": "policy",
            "operator": operator,
            "sections": {k: json.dumps(v, indent=2, sort_keys=True) for k, v in shown.items()},
        },
    )
