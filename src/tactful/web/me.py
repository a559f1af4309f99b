"""The preference center at /me: a person sees and changes what tactful knows about them.

Reached through an end-user link (``/me?token=tut_…``): the token is exchanged for an
HttpOnly session cookie on the first visit and leaves the address bar. Every change goes
through the engine's people and privacy services, takes effect on the next
recommendation, and the page shows that next list.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from tactful.api.auth import page_session
from tactful.api.deps import EngineDep, LanesDep
from tactful.domain.identifiers import TAG_PATTERN
from tactful.engine import Engine
from tactful.errors import TactfulError
from tactful.security.tokens import MAX_TOKEN_LENGTH
from tactful.signals.profile import DAY
from tactful.web.forms import me_change, me_who
from tactful.web.guard import ME_COOKIE, check_csrf, finish, me_user, start_me_session
from tactful.web.messages import message_context
from tactful.web.render import back, labels_for, page
from tactful.web.text import Labels, evidence_words, plural

router = APIRouter(include_in_schema=False, dependencies=[page_session()])
Csrf = Annotated[str, Form(max_length=128)]
PROVENANCE_WORDS = {
    "explicit": "What you tell us: likes, saves, ratings and interests you state.",
    "observed": "What you do here: what you play, open, skip or buy.",
    "inferred": "What we work out from that (for example a guessed favourite genre).",
    "imported": "What other companies tell us about you.",
}
CATEGORY_WORDS = {
    "religion": "Faith and religion",
    "health": "Health and healing",
    "finance": "Money and finance",
    "politics": "Politics",
    "sexuality": "Sexuality",
    "pregnancy": "Pregnancy",
    "bereavement": "Bereavement",
}


def tag_evidence(engine: Engine, user: str, labels: Labels) -> dict[str, str]:
    """Per tag, what the person did that taught it, read from their items' traces, in words:
    "You liked or saved 4 Jazz albums and played 7 more, on 9 days"."""
    profile = engine.person_state(user).profile
    told: dict[str, int] = {}
    played: dict[str, int] = {}
    days: dict[str, set[int]] = {}
    for state in profile.items.values():
        explicit = state.scores.parts.get("explicit")
        for tag, part in state.trace.tags.items():
            if part.last_positive is None:
                continue
            target = told if explicit is not None and explicit[0] > 0 else played
            target[tag] = target.get(tag, 0) + 1
            days.setdefault(tag, set()).update(state.trace.days or [int(part.last_positive // DAY)])
    out = {}
    for tag in set(told) | set(played):
        name = labels(tag)
        bits = []
        if told.get(tag):
            bits.append(f"liked or saved {plural(told[tag], name + ' album')}")
        if played.get(tag):
            more = " more" if told.get(tag) else ""
            bits.append(f"played {plural(played[tag], 'album' if more else name + ' album')}{more}")
        out[tag] = "You " + " and ".join(bits) + f", on {plural(len(days[tag]), 'day')}"
    return out


def _sensitive_categories(engine: Engine) -> list[str]:
    return list(engine.catalog().derived.categories)


def _view(engine: Engine, request: Request, user: str) -> Response:
    labels = labels_for(engine)
    profile = engine.profile(user)
    recs = engine.recommend(user, surface="home", n=6)
    consent = profile.consent
    return page(
        request,
        engine,
        "me.html",
        {
            "user": user,
            "profile": profile,
            "recs": recs,
            "consent": consent,
            "evidence": tag_evidence(engine, user, labels),
            "evidence_words": lambda i: evidence_words(i, labels),
            "provenances": PROVENANCE_WORDS,
            "categories": [(c, CATEGORY_WORDS.get(c, c.capitalize())) for c in _sensitive_categories(engine)],
            **message_context(engine, user),
        },
    )


@router.get("/me")
async def me(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    token: Annotated[str | None, Query(max_length=MAX_TOKEN_LENGTH)] = None,
) -> Response:
    if token is not None:  # the link: exchange the token for the session cookie, then drop it from the URL
        response = back(request, "/me")
        try:
            await lanes.write.run(start_me_session, engine, request, response, token)
        except TactfulError:
            return page(
                request, engine, "me_signin.html", {"problem": "This link is not valid any more."}, 401
            )
        return response
    user = me_user(engine, request)
    if user is None:
        return page(request, engine, "me_signin.html", {"problem": None})
    return await lanes.read.run(_view, engine, request, user)


@router.post("/me/interest")
async def interest(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    tag: Annotated[str, Form(pattern=TAG_PATTERN)],
    what: Annotated[str, Form(pattern="^(remove|mute|unmute|state)$")],
    csrf: Csrf,
) -> Response:
    labels = labels_for(engine)

    def work(user: str) -> str:
        name = labels.phrase(tag)
        if what == "remove":
            engine.remove_interest(user, tag)
            return (
                f"Removed {name} from what we know about you; it will not be learned again unless you add it."
            )
        if what == "mute":
            engine.mute_topic(user, tag)
            return f"Muted {name}: nothing with it will be recommended, and what it taught is forgotten."
        if what == "unmute":
            engine.unmute_topic(user, tag)
            return f"Unmuted {name}: it is learned afresh from what you do next."
        engine.state_interest(user, tag)
        return f"Added {name} to your interests: it counts from your next recommendation."

    return await me_change(request, engine, lanes, csrf, work)


@router.post("/me/consent")
async def consent(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    csrf: Csrf,
    personalization: Annotated[str | None, Form(pattern="^on$")] = None,
    provenance: Annotated[list[str] | None, Form(max_length=4)] = None,
    sensitive: Annotated[list[str] | None, Form(max_length=32)] = None,
) -> Response:
    def work(user: str) -> str:
        before = engine.profile(user).consent
        on = personalization == "on"
        kinds = sorted(set(provenance or []))
        opted = sorted(set(sensitive or []))
        engine.set_consent(user, {"personalization": on, "provenances": kinds, "sensitive_opt_in": opted})
        said = []
        if before.get("personalization") != on:
            said.append("personal recommendations are " + ("on" if on else "off"))
        added = set(opted) - set(before.get("sensitive_opt_in", []))
        dropped = set(before.get("sensitive_opt_in", [])) - set(opted)
        if added:
            said.append("you opted in to " + ", ".join(CATEGORY_WORDS.get(c, c) for c in sorted(added)))
        if dropped:
            said.append(
                "you opted out of "
                + ", ".join(CATEGORY_WORDS.get(c, c) for c in sorted(dropped))
                + ": everything learned through it is forgotten"
            )
        if set(before.get("provenances", [])) != set(kinds):
            said.append("we now learn only from " + (", ".join(kinds) or "no") + " signals")
        return ("Saved: " + "; ".join(said) + ".") if said else "Saved: nothing was different."

    return await me_change(request, engine, lanes, csrf, work)


@router.get("/me/export")
async def export(request: Request, engine: EngineDep, lanes: LanesDep) -> Response:
    user = me_user(engine, request)
    if user is None:
        return back(request, "/me")
    bundle = await lanes.read.run(engine.export_person, user, "user:" + engine.signer.subject_hash(user))
    body = json.dumps(bundle.model_dump(mode="json"), indent=2, sort_keys=True)
    response = Response(
        body,
        media_type="application/json",
        headers={"content-disposition": 'attachment; filename="my-tactful-data.json"'},
    )
    return finish(request, response)


@router.post("/me/delete")
async def delete(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    csrf: Csrf,
    confirm: Annotated[str | None, Form(pattern="^yes$")] = None,
) -> Response:
    user = me_who(engine, request, csrf)
    if confirm != "yes":
        return back(
            request, "/me", "Nothing was deleted: tick the box to confirm that you want your account deleted."
        )
    await lanes.write.run(engine.erase_person, user, "user:" + engine.signer.subject_hash(user))
    response = page(request, engine, "me_deleted.html", {})
    response.delete_cookie(ME_COOKIE, path="/")
    return response


@router.post("/me/signout")
async def signout(request: Request, engine: EngineDep, csrf: Csrf) -> Response:
    check_csrf(engine, request, csrf)
    response = back(request, "/me")
    response.delete_cookie(ME_COOKIE, path="/")
    return response
