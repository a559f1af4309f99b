"""The demo (only with ``web.demo``): a radio-station feed and a store front over the demo
library, with like / not for me / save / skip, undo, "Why this?" and its controls, a
switcher between described people, and after each click what changed and why."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from tactful.api.auth import page_session
from tactful.api.deps import EngineDep, LanesDep
from tactful.demo.personas import PERSONAS, VISITOR
from tactful.domain.event import Event, EventContext
from tactful.domain.identifiers import ID_PATTERN, TAG_PATTERN
from tactful.engine import Engine
from tactful.errors import NotFound, TactfulError
from tactful.web.changes import Snapshot, describe
from tactful.web.guard import check_csrf
from tactful.web.render import back, labels_for, page

router = APIRouter(include_in_schema=False, dependencies=[page_session()])
ACTIONS = {"like": "like", "dislike": "dislike", "save": "save", "skip": "skip"}
DONE = {
    "like": "You liked “{title}”",
    "dislike": "“{title}” is not for you: it will not be shown again",
    "save": "Saved “{title}” for later",
    "skip": "Skipped “{title}”",
}
FEED_N = 12
Who = Annotated[str, Form(pattern=ID_PATTERN)]
Csrf = Annotated[str, Form(max_length=128)]


def demo_only(engine: Engine) -> None:
    if not engine.settings.web.demo:
        raise NotFound("the demo pages are served only in demo mode (tactful demo)")


def _place(where: str) -> str:
    return "/store" if where == "store" else "/"


def _item_marks(engine: Engine, user: str) -> dict[str, str]:
    """Per item the person acted on: 'liked' (a like or save) — read from their state."""
    profile = engine.person_state(user).profile
    marks = {}
    for item_id, state in profile.items.items():
        explicit = state.scores.parts.get("explicit")
        if explicit is not None and explicit[0] > 0:
            marks[item_id] = "liked"
    return marks


def _context(engine: Engine, user: str, where: str) -> dict[str, object]:
    recs = engine.recommend(user, surface="home", n=FEED_N)
    profile = engine.profile(user)
    catalog = engine.catalog()
    titles = {i: catalog.items[catalog.index[i]].title for i in profile.disliked_items if i in catalog.index}
    prices = {
        r.item_id: catalog.items[catalog.index[r.item_id]].attributes.price
        for r in recs.items
        if r.item_id in catalog.index
    }
    persona = next((p for p in PERSONAS if p.id == user), None)
    return {
        "recs": recs,
        "profile": profile,
        "user": user,
        "persona": persona,
        "personas": PERSONAS,
        "where": where,
        "marks": _item_marks(engine, user),
        "disliked": [(i, titles.get(i, i)) for i in profile.disliked_items],
        "prices": prices,
    }


@router.get("/")
async def home(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    who: Annotated[str, Query(pattern=ID_PATTERN)] = VISITOR.id,
) -> Response:
    if not engine.settings.web.demo:
        return page(request, engine, "landing.html", {"auth": engine.settings.auth.enabled})
    return await lanes.read.run(lambda: page(request, engine, "feed.html", _context(engine, who, "feed")))


@router.get("/store")
async def store(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    who: Annotated[str, Query(pattern=ID_PATTERN)] = VISITOR.id,
) -> Response:
    demo_only(engine)
    return await lanes.read.run(lambda: page(request, engine, "store.html", _context(engine, who, "store")))


def _snapshot(engine: Engine, user: str) -> Snapshot:
    return Snapshot(
        engine.profile(user), [r.item_id for r in engine.preview(user, n=FEED_N, explain=False).items]
    )


def _after(engine: Engine, user: str, done: str, before: Snapshot) -> str:
    return describe(
        done, before, engine.profile(user), engine.preview(user, n=FEED_N, explain=False), labels_for(engine)
    )


def _title(engine: Engine, item: str) -> str:
    return engine.get_item(item).title or item


@router.post("/demo/act")
async def act(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    who: Who,
    item: Annotated[str, Form(pattern=ID_PATTERN)],
    action: Annotated[str, Form(pattern="^(like|dislike|save|skip)$")],
    csrf: Csrf,
    where: Annotated[str, Form(pattern="^(feed|store)$")] = "feed",
    recommendation_id: Annotated[str | None, Form(pattern=ID_PATTERN)] = None,
) -> Response:
    demo_only(engine)
    check_csrf(engine, request, csrf)

    def run() -> str:
        before = _snapshot(engine, who)
        event = Event(
            user_id=who,
            item_id=item,
            type=ACTIONS[action],
            surface="home",
            recommendation_id=recommendation_id,
            context=EventContext(device="web"),
        )
        engine.ingest([event])
        return _after(engine, who, DONE[action].format(title=_title(engine, item)), before)

    message = await _attempt(lanes.write.run, run)
    return back(request, f"{_place(where)}?who={quote(who, safe='')}", message)


async def _attempt(runner, work) -> str:  # type: ignore[no-untyped-def]
    try:
        result: str = await runner(work)
        return result
    except TactfulError as exc:
        return f"Nothing changed: {exc.message}."


@router.post("/demo/undo")
async def undo(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    who: Who,
    item: Annotated[str, Form(pattern=ID_PATTERN)],
    csrf: Csrf,
    where: Annotated[str, Form(pattern="^(feed|store)$")] = "feed",
) -> Response:
    demo_only(engine)
    check_csrf(engine, request, csrf)

    def run() -> str:
        before = _snapshot(engine, who)
        taken = engine.undo_dislike(who, item, ["dislike", "dismiss"])
        title = _title(engine, item)
        if not taken.removed:
            return f"There was no “not for me” on “{title}” to undo."
        done = f"Undone: “{title}” may be shown again, and what your “not for me” taught is gone"
        return _after(engine, who, done, before)

    message = await _attempt(lanes.write.run, run)
    return back(request, f"{_place(where)}?who={quote(who, safe='')}", message)


CONTROLS = {"not_interested", "creator", "genre", "topic"}


@router.post("/demo/control")
async def control(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    who: Who,
    item: Annotated[str, Form(pattern=ID_PATTERN)],
    what: Annotated[str, Form(pattern="^(not_interested|creator|genre|topic)$")],
    csrf: Csrf,
    tag: Annotated[str | None, Form(pattern=TAG_PATTERN)] = None,
    where: Annotated[str, Form(pattern="^(feed|store)$")] = "feed",
) -> Response:
    """The controls of "Why this?": each acts on the engine, then says what it changed."""
    demo_only(engine)
    check_csrf(engine, request, csrf)

    def run() -> str:
        before = _snapshot(engine, who)
        labels = labels_for(engine)
        title = _title(engine, item)
        if what == "not_interested":
            engine.ingest([Event(user_id=who, item_id=item, type="dismiss", surface="home")])
            done = f"Not interested in “{title}”: it will not be shown again"
        elif tag is None or tag not in engine.get_item(item).tags:
            return "Nothing changed: that control needs one of the album's own tags."
        elif what == "genre":
            engine.remove_interest(who, tag)
            done = (
                f"Less {labels(tag)}: your interest in it is forgotten and will not be learned again "
                "unless you say you like it (its albums can still come up as general picks)"
            )
        else:  # creator or topic: muted everywhere, and what was learned through it forgotten
            engine.mute_topic(who, tag)
            done = (
                f"Muted {labels.phrase(tag)}: none of it will be recommended, and what it taught is forgotten"
            )
        return _after(engine, who, done, before)

    message = await _attempt(lanes.write.run, run)
    return back(request, f"{_place(where)}?who={quote(who, safe='')}", message)


@router.post("/demo/unmute")
async def unmute(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    who: Who,
    tag: Annotated[str, Form(pattern=TAG_PATTERN)],
    csrf: Csrf,
    where: Annotated[str, Form(pattern="^(feed|store)$")] = "feed",
) -> Response:
    demo_only(engine)
    check_csrf(engine, request, csrf)

    def run() -> str:
        before = _snapshot(engine, who)
        engine.unmute_topic(who, tag)
        return _after(
            engine,
            who,
            f"Unmuted {labels_for(engine).phrase(tag)}: it is learned afresh from new signals only",
            before,
        )

    message = await _attempt(lanes.write.run, run)
    return back(request, f"{_place(where)}?who={quote(who, safe='')}", message)


@router.post("/demo/me")
async def open_preferences(
    request: Request, engine: EngineDep, lanes: LanesDep, who: Who, csrf: Csrf
) -> Response:
    """The demo's stand-in for the e-mailed link: a fresh token link to this person's /me."""
    demo_only(engine)
    check_csrf(engine, request, csrf)
    token = await lanes.write.run(engine.issue_user_token, who)
    return back(request, f"/me?token={quote(token, safe='')}")
