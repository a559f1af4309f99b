"""Personalized messages (P13, with P5–P8 applied to messages): preferences, the planner,
unsubscribe and feedback.

:class:`MessagingService` sits beside :class:`~tactful.services.recommend.RecommendService`
and composes digests from it. The timing decisions are pure functions in
:mod:`tactful.policy.schedule`; this module does the I/O around them:

- **Preferences** (:meth:`MessagingService.preferences`, :meth:`~MessagingService.update_preferences`):
  channels, topics (opted in / out / required and locked with its reason), cadence,
  window, time zone, quiet hours, pause and caps. A change takes effect at once: an
  opt-out or a dropped channel cancels what is queued for it.
- **The planner** (:meth:`~MessagingService.plan`): who is due at a time; each due digest
  is composed from the channel's recommendation surface, restricted to the chosen topics
  and driven only by established interests (P6); people with none get a general digest,
  labelled so. Sensitive items without opt-in, disliked and muted items, and items from
  the last ``recent_digests`` digests never appear. Windows, quiet hours and pauses defer;
  caps hold back with their reason; the outbox's key (person, channel, period) makes
  re-runs and concurrent planners send once.
- **Feedback** (:meth:`~MessagingService.feedback`): opens and clicks reset the ignore
  streak (clicks are also click events, attributed to the digest's list); a hard bounce
  or complaint suppresses the channel; a complaint is a strong negative (complaint events
  on the digest's items) and opts out of the digest's topics; a person who keeps ignoring
  digests gets a lower cadence, and the next digest says so with a one-click restore.
- **Required messages** (:meth:`~MessagingService.send_required`): a one-off message on a
  required topic (a password reset) is queued at once whatever the person unsubscribed
  from, goes out without waiting for the window, quiet hours, a pause or caps, and never
  counts against caps; only a channel that reaches the person (not suppressed) is used.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

import pydantic
from pydantic import BaseModel, Field

from tactful.clock import Clock, from_epoch, to_epoch
from tactful.config.messaging import MessagingSettings, TopicSettings
from tactful.config.run import RunConfig
from tactful.domain.event import Event, EventContext, Provenance
from tactful.domain.identifiers import EntityId
from tactful.domain.messages import (
    LOWER,
    AwareInstant,
    Channel,
    DigestItem,
    FeedbackType,
    MessageFeedback,
    MessagePreferences,
    MessageState,
    OutboxMessage,
    OutboxStatus,
    PreferencesUpdate,
    PreferencesView,
    RequiredMessage,
    Suppression,
    TopicState,
    TopicView,
)
from tactful.domain.strict import Flag
from tactful.errors import Conflict, NotFound, Unauthorized, ValidationError
from tactful.policy.schedule import Due, Schedule, allowed, cap_exceeded, due, local_day, lowered
from tactful.services.people import valid_user
from tactful.services.planner import PolicyLayer, interest_status
from tactful.services.recommend import RecommendService
from tactful.services.state import PersonStates
from tactful.signals.profile import Engagement
from tactful.storage.protocol import Counted, Store, StoredPreferences

PLAN_BATCH = 200
CONFIG_CACHE = 4096
RECENT_DAYS = 400
"""How far back (local days) the last digests are looked for (a monthly digest's last four)."""
MAX_PLAN_USERS = 10_000
LinkMac = Callable[[str, str], str]


# -- reports ---------------------------------------------------------------------------------


class PlanDecision(BaseModel):
    """What the planner decided for one person (and channel), with its reason."""

    user_id: str
    channel: Channel | None = None
    outcome: Literal["planned", "deferred", "capped", "skipped", "lowered", "duplicate"]
    period: str | None = None
    reason: str
    send_at: datetime | None = None
    message_id: str | None = None
    kind: str | None = None


class PlanReport(BaseModel):
    now: datetime
    dry_run: bool
    people: int = Field(description="People with preferences the due check looked at.")
    due: int
    counts: dict[str, int]
    decisions: list[PlanDecision]


class PlanRequest(BaseModel):
    """``POST /v1/messages/plan``: plan at ``now`` (default: the server's clock)."""

    model_config = pydantic.ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"dry_run": True}, {"now": "2026-03-02T09:00:00Z"}]}
    )

    now: AwareInstant | None = Field(None, description="Plan as of this time (default: now).")
    dry_run: Flag = Field(False, description="Decide and compose, write nothing.")
    user_ids: list[EntityId] | None = Field(None, max_length=MAX_PLAN_USERS, description="Only these people.")


class FeedbackResult(BaseModel):
    message_id: str
    type: FeedbackType
    effects: list[str]


@dataclass
class _Candidate:
    stored: StoredPreferences
    schedule: Schedule
    due: Due
    messages: list[OutboxMessage] = field(default_factory=list)


# -- links -----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class LinkClaims:
    action: Literal["unsubscribe", "restore"]
    user_id: str
    topic: str | None
    message_id: str | None


# -- the service -----------------------------------------------------------------------------


class MessagingService:
    """Message preferences, the digest planner, unsubscribe links and feedback."""

    def __init__(
        self,
        store: Store,
        recommender: RecommendService,
        states: PersonStates,
        policy: PolicyLayer,
        ingest: Callable[[Sequence[Event]], object],
        link_mac: Callable[[], LinkMac],
        clock: Clock,
        settings: MessagingSettings,
        base: RunConfig,
        respect: bool = True,
    ) -> None:
        self.store = store
        self.recommender = recommender
        self.states = states
        self.policy = policy
        self.ingest = ingest
        self._link_mac = link_mac
        self.clock = clock
        self.settings = settings
        self.base = base
        self.respect = respect
        self.topics: dict[str, TopicSettings] = dict(settings.topics)
        general = dict(base.blend["new"])
        self._general_blend = {level: general for level in base.blend}
        self._configs: dict[tuple[str, tuple[str, ...], tuple[str, ...], bool], RunConfig] = {}

    # -- topics ----------------------------------------------------------------------------
    def topic_state(self, prefs: MessagePreferences, topic_id: str) -> TopicState:
        topic = self.topics[topic_id]
        if topic.required:
            return TopicState.required
        chosen = prefs.topics.get(topic_id)
        if chosen is None:
            return TopicState.opted_in if topic.default_opted_in else TopicState.opted_out
        return TopicState(chosen)

    def digest_topics(self, prefs: MessagePreferences) -> list[str]:
        """The opted-in, non-required topics: what a digest may be about."""
        return [t for t in self.topics if self.topic_state(prefs, t) is TopicState.opted_in]

    # -- preferences -----------------------------------------------------------------------
    def _stored(self, user_id: str) -> StoredPreferences:
        found = self.store.load_message_prefs([user_id]).get(user_id)
        if found is not None:
            return found
        person = self.store.get_person(user_id)
        return StoredPreferences(
            user_id, MessagePreferences(), MessageState(), None, person.timezone if person else "UTC"
        )

    def preferences(self, user_id: str) -> PreferencesView:
        """Everything the preference center shows for a person (defaults when they never chose)."""
        return self._view(self._stored(valid_user(user_id)))

    def _view(self, stored: StoredPreferences) -> PreferencesView:
        prefs, state = stored.prefs, stored.state
        topics = [
            TopicView(
                id=tid,
                name=t.name,
                description=t.description,
                state=self.topic_state(prefs, tid),
                locked=t.required,
                reason=t.reason if t.required else None,
                tags=list(t.tags),
            )
            for tid, t in self.topics.items()
        ]
        notes = []
        now = self.clock.now()
        if prefs.paused_until is not None and prefs.paused_until > now:
            notes.append(f"Paused until {prefs.paused_until.isoformat()}")
        if state.lowered_from is not None:
            notes.append(
                f"Cadence lowered from {state.lowered_from.describe()} to {prefs.cadence.describe()} "
                "because recent digests went unopened"
            )
        for s in state.suppressed:
            notes.append(f"{s.channel.value} is suppressed: {s.reason}")
        return PreferencesView(
            user_id=stored.user_id,
            channels=list(prefs.channels),
            available_channels=list(Channel),
            email=prefs.email,
            topics=topics,
            cadence=prefs.cadence,
            window=prefs.window,
            quiet_hours=prefs.quiet_hours,
            timezone=prefs.timezone or stored.person_zone,
            timezone_is_person_default=prefs.timezone is None,
            paused_until=prefs.paused_until,
            caps=list(prefs.caps),
            suppressed=list(state.suppressed),
            lowered_from=state.lowered_from,
            notes=notes,
        )

    def update_preferences(
        self, user_id: str, update: PreferencesUpdate | Mapping[str, Any]
    ) -> PreferencesView:
        """Apply a partial change (only the fields given). Refuses switching off a required
        topic (409, with its reason) or an unknown topic (422); changes nothing then.

        Effects are immediate: queued messages on a channel dropped here, or about topics
        now all opted out, are cancelled; choosing a suppressed channel again lifts its
        suppression; changing the cadence by hand clears an automatic lowering.
        """
        valid_user(user_id)
        change = _valid_update(update)
        given = change.model_fields_set
        for tid, value in (change.topics or {}).items():
            if tid not in self.topics:
                raise ValidationError(f"unknown topic {tid!r}", field=f"topics.{tid}")
            if self.topics[tid].required and value == TopicState.opted_out.value:
                raise Conflict(
                    f"{tid} is required and cannot be switched off: {self.topics[tid].reason}",
                    field=f"topics.{tid}",
                )
        now = self.clock.now()

        def apply(current: StoredPreferences) -> tuple[MessagePreferences, MessageState]:
            prefs = current.prefs.model_copy(deep=True)
            state = current.state.model_copy(deep=True)
            values: dict[str, Any] = {}
            for name in (
                "channels",
                "cadence",
                "window",
                "quiet_hours",
                "timezone",
                "paused_until",
                "caps",
                "email",
            ):
                if name in given:
                    values[name] = getattr(change, name)
            if values.get("channels") is None and "channels" in values:
                values["channels"] = []
            if values.get("caps") is None and "caps" in values:
                values["caps"] = []
            if values.get("window") is None and "window" in values:
                del values["window"]
            if values.get("cadence") is None and "cadence" in values:
                del values["cadence"]
            if "pause_days" in given and change.pause_days is not None:
                values["paused_until"] = now + timedelta(days=change.pause_days)
            if change.topics:
                values["topics"] = {**prefs.topics, **change.topics}
            prefs = _validate(MessagePreferences, {**prefs.model_dump(), **values})
            if "channels" in values:
                state.suppressed = [s for s in state.suppressed if s.channel not in prefs.channels]
            if "cadence" in values and values["cadence"] != current.prefs.cadence:
                state.lowered_from, state.lowered_at, state.notice_pending = None, None, False
                state.ignored = 0
                state.since = now
            if state.since is None:
                state.since = now
            return prefs, state

        stored = self.store.update_message_prefs(user_id, apply, to_epoch(now))
        self._cancel_unwanted(stored)
        return self._view(stored)

    def _cancel_unwanted(self, stored: StoredPreferences) -> None:
        """Cancel queued messages on channels no longer chosen or about topics no longer wanted."""
        wanted_topics = set(self.digest_topics(stored.prefs))
        usable = self._channels(stored)
        for message in self.store.list_messages(stored.user_id, OutboxStatus.queued.value, limit=500):
            if message.kind == "required":
                if not self.reaches(stored, message.channel):
                    self._cancel(message, f"{message.channel.value} no longer reaches the person")
            elif message.channel not in usable:
                self._cancel(message, f"{message.channel.value} is no longer chosen or usable")
            elif message.kind != "notice" and not (set(message.topics) & wanted_topics):
                self._cancel(message, "its topics were unsubscribed")

    def _cancel(self, message: OutboxMessage, reason: str) -> None:
        self.store.save_message(
            message.model_copy(update={"status": OutboxStatus.cancelled, "reason": reason})
        )

    def _channels(self, stored: StoredPreferences) -> list[Channel]:
        suppressed = {s.channel for s in stored.state.suppressed}
        out = [c for c in stored.prefs.channels if c not in suppressed]
        if Channel.email in out and not stored.prefs.email:
            out.remove(Channel.email)
        return out

    def reaches(self, stored: StoredPreferences, channel: Channel) -> bool:
        """Whether a required message can go to the person on ``channel``."""
        try:
            self.required_channel(stored, channel)
        except Conflict:
            return False
        return True

    def required_channel(self, stored: StoredPreferences, asked: Channel | None) -> Channel:
        """Where a required message to this person goes, or :class:`Conflict` saying why nowhere.

        Required messages do not wait for the person to choose a channel for digests: email
        reaches anyone with an address; push and in-app need the person to have chosen them.
        A suppressed channel (hard bounce, complaint) is never used.
        """
        suppressed = {s.channel: s.reason for s in stored.state.suppressed}
        reachable = [c for c in (Channel.email, *stored.prefs.channels) if c not in suppressed]
        if not stored.prefs.email:
            reachable = [c for c in reachable if c is not Channel.email]
        if asked is not None:
            if asked in suppressed:
                raise Conflict(
                    f"{asked.value} is suppressed for {stored.user_id}: {suppressed[asked]}", field="channel"
                )
            if asked not in reachable:
                why = "has no email address" if asked is Channel.email else f"has not chosen {asked.value}"
                raise Conflict(f"{stored.user_id} {why}", field="channel")
            return asked
        if not reachable:
            raise Conflict(
                f"no channel reaches {stored.user_id}: no email address and no usable chosen channel",
                field="channel",
            )
        return reachable[0]

    def send_required(
        self, user_id: str, body: RequiredMessage | Mapping[str, Any], now: datetime | None = None
    ) -> tuple[OutboxMessage, bool]:
        """Queue a one-off message on a required topic; the message and whether it is new.

        The same ``key`` again returns the first message (its key is the person, channel and
        the caller's key). Due at once: the next delivery pass sends it.
        """
        valid_user(user_id)
        req = body if isinstance(body, RequiredMessage) else _validate(RequiredMessage, body)
        topic = self.topics.get(req.topic)
        if topic is None:
            raise NotFound(f"no topic {req.topic!r}", field="topic")
        if not topic.required:
            raise Conflict(
                f"{req.topic} is not a required topic: one-off messages are for required topics "
                "(password resets, security notices); other topics reach people in their digests",
                field="topic",
            )
        now = now or self.clock.now()
        stored = self._stored(user_id)
        channel = self.required_channel(stored, req.channel)
        message_id = "m_" + secrets.token_hex(10)
        message = OutboxMessage(
            id=message_id,
            key=f"{user_id}|{channel.value}|r:{req.key}",
            user_id=user_id,
            channel=channel,
            period=f"r:{req.key}",
            kind="required",
            topics=[req.topic],
            items=[],
            subject=req.subject,
            text=req.text,
            links=self.links(user_id, [], message_id, False),
            status=OutboxStatus.queued,
            planned_at=now,
            send_after=now,
            next_attempt_at=now,
            local_day=local_day(Schedule.of(stored.prefs, stored.person_zone), now),
        )
        return self.store.enqueue_message(message)

    def unsubscribe(self, user_id: str, topic: str | None) -> PreferencesView:
        """Opt out of one topic (``None``: every digest topic). Never touches required topics."""
        valid_user(user_id)
        if topic is not None and topic not in self.topics:
            raise NotFound(f"no topic {topic!r}", field="topic")
        if topic is not None and self.topics[topic].required:
            raise Conflict(
                f"{topic} is required and cannot be unsubscribed: {self.topics[topic].reason}", field="topic"
            )
        targets = [topic] if topic is not None else [t for t, s in self.topics.items() if not s.required]
        return self.update_preferences(user_id, {"topics": {t: "opted_out" for t in targets}})

    def restore_cadence(self, user_id: str) -> PreferencesView:
        """Undo an automatic lowering of the cadence (the one-click link in the digest)."""
        stored = self._stored(valid_user(user_id))
        previous = stored.state.lowered_from
        if previous is None:
            return self._view(stored)
        return self.update_preferences(user_id, {"cadence": previous.model_dump()})

    # -- signed links ----------------------------------------------------------------------
    def link_token(
        self, action: str, user_id: str, topic: str | None = None, message_id: str | None = None
    ) -> str:
        body = json.dumps({"a": action, "u": user_id, "t": topic, "m": message_id}, separators=(",", ":"))
        payload = _b64(body.encode())
        return f"{payload}.{self._link_mac()(action, payload)}"

    def read_link(self, token: str) -> LinkClaims:
        """The claims of a link this server signed; :class:`Unauthorized` otherwise."""
        if not isinstance(token, str) or len(token) > 2000:
            raise Unauthorized("not a message link")
        payload, sep, mac = token.partition(".")
        try:
            body = json.loads(_unb64(payload)) if sep else None
        except (ValueError, binascii.Error):
            body = None
        if not isinstance(body, dict) or body.get("a") not in ("unsubscribe", "restore"):
            raise Unauthorized("not a message link")
        if not hmac.compare_digest(mac.encode(), self._link_mac()(body["a"], payload).encode()):
            raise Unauthorized("invalid link signature")
        user_id, topic, message_id = body.get("u"), body.get("t"), body.get("m")
        if (
            not isinstance(user_id, str)
            or not isinstance(topic, str | None)
            or not isinstance(message_id, str | None)
        ):
            raise Unauthorized("malformed message link")
        return LinkClaims(body["a"], valid_user(user_id), topic, message_id)

    def links(self, user_id: str, topics: Iterable[str], message_id: str, restore: bool) -> dict[str, str]:
        base = self.settings.public_url.rstrip("/")
        out = {}
        for topic in topics:
            token = self.link_token("unsubscribe", user_id, topic, message_id)
            out[f"unsubscribe:{topic}"] = f"{base}/unsubscribe?token={quote(token)}"
        out["unsubscribe"] = (
            f"{base}/unsubscribe?token={quote(self.link_token('unsubscribe', user_id, None, message_id))}"
        )
        if restore:
            out["restore"] = (
                f"{base}/restore-cadence?token={quote(self.link_token('restore', user_id, None, message_id))}"
            )
        return out

    # -- planning --------------------------------------------------------------------------
    def schedule(self, stored: StoredPreferences) -> Schedule:
        doc = stored.document()
        if doc is not None:  # straight from the store: no need to validate it all again
            return Schedule.of_document(doc, stored.person_zone, respect=self.respect)
        return Schedule.of(stored.prefs, stored.person_zone, respect=self.respect)

    def due_check(self, stored: StoredPreferences, now: datetime) -> Due:
        """The pure due check for one person (what the planner runs for everyone)."""
        return due(self.schedule(stored), now, stored.last_period, stored.since)

    def plan(
        self, now: datetime | None = None, user_ids: Sequence[str] | None = None, dry_run: bool = False
    ) -> PlanReport:
        """Plan every due digest at ``now``: compose, cap and put them in the outbox.

        Idempotent: a re-run, or another planner at the same time (threads, processes, hosts,
        SQLite or PostgreSQL), finds the period's key taken and adds nothing. With
        ``dry_run`` nothing is written and no list is recorded as served.
        """
        now = now or self.clock.now()
        if now.tzinfo is None:
            raise ValidationError("give a time zone (e.g. 2026-03-02T09:00:00Z)", field="now")
        decisions: list[PlanDecision] = []
        people = due_count = 0
        batches: Iterable[list[StoredPreferences]]
        if user_ids is not None:
            found = self.store.load_message_prefs([valid_user(u) for u in user_ids])
            batches = [[found[u] for u in sorted(found) if found[u].prefs.channels]]
        else:
            batches = self.store.iter_message_prefs()
        for batch in batches:
            people += len(batch)
            pending: list[_Candidate] = []
            for stored in batch:
                d = self.due_check(stored, now)
                if d.due:
                    due_count += 1
                    pending.append(_Candidate(stored, self.schedule(stored), d))
                elif d.deferred:
                    decisions.append(
                        PlanDecision(
                            user_id=stored.user_id,
                            outcome="deferred",
                            period=d.period,
                            reason=d.reason,
                            send_at=d.send_at,
                        )
                    )
                if len(pending) >= PLAN_BATCH:
                    decisions.extend(self._plan_batch(pending, now, dry_run))
                    pending = []
            if pending:
                decisions.extend(self._plan_batch(pending, now, dry_run))
        counts: dict[str, int] = {}
        for decision in decisions:
            counts[decision.outcome] = counts.get(decision.outcome, 0) + 1
        return PlanReport(
            now=now, dry_run=dry_run, people=people, due=due_count, counts=counts, decisions=decisions
        )

    def _plan_batch(self, batch: list[_Candidate], now: datetime, dry_run: bool) -> list[PlanDecision]:
        decisions: list[PlanDecision] = []
        ready: list[_Candidate] = []
        today = max(local_day(c.schedule, now) for c in batch)
        recent = self.recent_items([c.stored.user_id for c in batch], today + 1)
        for first in batch:
            cand = self._maybe_lower(first, now, dry_run, decisions)
            if cand is None:
                continue
            stored = cand.stored
            channels = self._channels(stored)
            topics = self.digest_topics(stored.prefs)
            if not channels:
                decisions.append(
                    self._skip(
                        stored, cand.due, "no usable channel (chosen, not suppressed, with an address)"
                    )
                )
                continue
            if not topics:
                decisions.append(self._skip(stored, cand.due, "no digest topic opted in"))
                continue
            for channel in channels:
                message = self.compose(
                    stored, channel, topics, cand.due, now, dry_run, recent.get(stored.user_id, set())
                )
                if message is None:
                    decisions.append(self._skip(stored, cand.due, "nothing to send on these topics", channel))
                else:
                    cand.messages.append(message)
            if cand.messages:
                ready.append(cand)
        if not ready:
            return decisions
        by_user = {c.stored.user_id: c for c in ready}
        max_days = max(
            [c.days for c in self.settings.caps] + [c.days for r in ready for c in r.stored.prefs.caps] + [1]
        )
        since = min(local_day(c.schedule, now) for c in ready) - max_days

        def decide(history: dict[str, list[Counted]]) -> list[OutboxMessage]:
            out = []
            for user_id, cand in by_user.items():
                counted = [(h.channel, h.local_day) for h in history.get(user_id, [])]
                caps = [*cand.stored.prefs.caps, *self.settings.caps] if self.respect else []
                for message in cand.messages:
                    cap = cap_exceeded(caps, message.channel, message.local_day, counted)
                    if cap is not None:
                        message = message.model_copy(
                            update={
                                "status": OutboxStatus.capped,
                                "reason": f"held back by the cap {cap.describe()}",
                                "next_attempt_at": None,
                            }
                        )
                    else:
                        counted.append((message.channel, message.local_day))
                    out.append(message)
            return out

        periods = {u: c.due.period for u, c in by_user.items() if c.due.period}
        if dry_run:
            inserted = decide({u: [] for u in by_user})
            landed = {m.key for m in inserted}
        else:
            inserted = self.store.enqueue_messages(list(by_user), since, decide, periods)
            landed = {m.key for m in inserted}
        notices_sent: set[str] = set()
        for cand in ready:
            for message in cand.messages:
                if message.key not in landed:
                    decisions.append(
                        PlanDecision(
                            user_id=message.user_id,
                            channel=message.channel,
                            outcome="duplicate",
                            period=message.period,
                            reason="already in the outbox for this period",
                            kind=message.kind,
                        )
                    )
                    continue
                final = next(m for m in inserted if m.key == message.key)
                capped = final.status is OutboxStatus.capped
                decisions.append(
                    PlanDecision(
                        user_id=final.user_id,
                        channel=final.channel,
                        outcome="capped" if capped else "planned",
                        period=final.period,
                        reason=final.reason or "due",
                        send_at=final.send_after,
                        message_id=final.id,
                        kind=final.kind,
                    )
                )
                if not capped and final.notes and cand.stored.state.notice_pending:
                    notices_sent.add(final.user_id)
        if not dry_run:
            for user_id in notices_sent:
                self.store.update_message_prefs(user_id, _clear_notice, to_epoch(now))
        return decisions

    def _skip(
        self, stored: StoredPreferences, d: Due, reason: str, channel: Channel | None = None
    ) -> PlanDecision:
        return PlanDecision(
            user_id=stored.user_id, channel=channel, outcome="skipped", period=d.period, reason=reason
        )

    def _maybe_lower(
        self, cand: _Candidate, now: datetime, dry_run: bool, decisions: list[PlanDecision]
    ) -> _Candidate | None:
        """P7 for messages: after ``ignore_after`` digests in a row without an open or click,
        lower the cadence one step (daily → weekly, weekly → monthly) and say so next time."""
        stored = cand.stored
        kind = stored.prefs.cadence.kind
        if not self.respect or stored.state.ignored < self.settings.ignore_after or kind not in LOWER:
            return cand
        weekday = now.astimezone(cand.schedule.zone).weekday()
        new = lowered(stored.prefs.cadence, LOWER[kind], weekday)
        old = stored.prefs.cadence

        def apply(current: StoredPreferences) -> tuple[MessagePreferences, MessageState]:
            state = current.state.model_copy(
                update={
                    "lowered_from": current.state.lowered_from or old,
                    "lowered_at": now,
                    "notice_pending": True,
                    "ignored": 0,
                }
            )
            return current.prefs.model_copy(update={"cadence": new}), state

        if dry_run:
            prefs, state = apply(stored)
            updated = StoredPreferences(stored.user_id, prefs, state, stored.last_period, stored.person_zone)
        else:
            updated = self.store.update_message_prefs(stored.user_id, apply, to_epoch(now))
        decisions.append(
            PlanDecision(
                user_id=stored.user_id,
                outcome="lowered",
                period=cand.due.period,
                reason=f"{self.settings.ignore_after} digests in a row unopened: "
                f"{old.describe()} → {new.describe()}",
            )
        )
        d = self.due_check(updated, now)
        if not d.due:
            return None
        return _Candidate(updated, self.schedule(updated), d)

    # -- composition -----------------------------------------------------------------------
    def recent_items(self, user_ids: Sequence[str], today: int) -> dict[str, set[str]]:
        """Per person, the items of their last ``recent_digests`` digests (queued or sent, any
        channel, within ``RECENT_DAYS`` local days): one query for a planner batch."""
        n = self.settings.recent_digests
        if n == 0:
            return {u: set() for u in user_ids}
        out: dict[str, set[str]] = {}
        for user_id, messages in self.store.messages_since(user_ids, today - RECENT_DAYS).items():
            periods: list[str] = []
            for m in messages:
                if m.period not in periods:
                    periods.append(m.period)
            keep = set(periods[:n])
            out[user_id] = {i.item_id for m in messages if m.period in keep for i in m.items}
        return out

    def _digest_config(
        self, surface: str, include: tuple[str, ...], exclude: tuple[str, ...], personal: bool
    ) -> RunConfig:
        """The run config of a digest: the surface restricted to the topics (general content
        for a general digest), validated once and kept (many people share one)."""
        key = (surface, include, exclude, personal)
        found = self._configs.get(key)
        if found is None:
            overrides: dict[str, Any] = {
                "surfaces": {surface: {"include_tags": list(include), "exclude_tags": list(exclude)}}
            }
            if not personal:
                overrides["blend"] = self._general_blend
            found = self.recommender.config(overrides)
            if len(self._configs) >= CONFIG_CACHE:
                self._configs.clear()
            self._configs[key] = found
        return found

    def compose(
        self,
        stored: StoredPreferences,
        channel: Channel,
        topics: Sequence[str],
        d: Due,
        now: datetime,
        dry_run: bool = False,
        recent: set[str] | None = None,
    ) -> OutboxMessage | None:
        """One digest for a person and channel, or None when nothing fits.

        ``recent`` is what :meth:`recent_items` found for the person (read here when not given).
        """
        user_id = stored.user_id
        surface = self.settings.channel_surfaces.get(channel, "email_digest")
        cfg = self.base
        n = cfg.surface(surface).n
        epoch = to_epoch(now)
        state = self.states.state(user_id, epoch, cfg)
        catalog = state.context.catalog
        topic_tags: set[str] = set()
        any_content = False
        for tid in topics:
            tags = self.topics[tid].tags
            any_content |= not tags
            topic_tags.update(tags)
        # tags of topics the person explicitly opted out of stay out of every digest
        unwanted = {
            tag
            for tid, t in self.topics.items()
            if stored.prefs.topics.get(tid) == TopicState.opted_out.value and not t.required
            for tag in t.tags
        } - topic_tags
        status = interest_status(self.policy, state, cfg)
        established = {
            t
            for t, s in status.items()
            if s == "used"
            and state.profile.interests.get(t) is not None
            and (state.profile.interests[t].established or t in state.person.stated_interests)
        }
        established |= {t for t in state.person.stated_interests if status.get(t, "used") == "used"}
        drivers = established if any_content else established & topic_tags
        personal = state.engagement is not Engagement.new and bool(drivers)
        include = sorted(drivers) if personal else ([] if any_content else sorted(topic_tags))
        run_config = self._digest_config(surface, tuple(include), tuple(sorted(unwanted)), personal)
        if recent is None:
            today = local_day(Schedule.of(stored.prefs, stored.person_zone), now)
            recent = self.recent_items([user_id], today)[user_id]
        want = min(n + len(recent), 200)
        recs = self.recommender.recommend(
            user_id, surface, want, False, run_config, record=not dry_run, count_backoff=False
        )
        person = state.person
        muted = set(person.muted_topics)
        opted = set(person.consent.sensitive_opt_in)
        disliked = state.profile.hard_negatives()
        items: list[DigestItem] = []
        for rec in recs.items:
            pos = catalog.index.get(rec.item_id)
            if rec.item_id in recent or pos is None:
                continue
            if self.respect and (
                rec.item_id in disliked
                or muted & set(rec.tags)
                or (catalog.sensitive[pos] - opted)
                or unwanted & set(rec.tags)
            ):
                continue
            about = [
                tid
                for tid in topics
                if not self.topics[tid].tags or set(self.topics[tid].tags) & set(rec.tags)
            ]
            if not about:
                continue
            reason = (
                rec.reasons[0].message if rec.reasons else ("popular with others" if not personal else "")
            )
            attrs = catalog.items[pos].attributes
            items.append(
                DigestItem(
                    item_id=rec.item_id,
                    title=rec.title,
                    url=getattr(attrs, "url", None),
                    topics=about,
                    reason=reason,
                )
            )
            if len(items) >= n:
                break
        if not items:
            return None
        notes = []
        if not personal:
            notes.append("A general digest: popular and trending picks, until we know what you like.")
        restore = stored.state.notice_pending and stored.state.lowered_from is not None
        if restore and stored.state.lowered_from is not None:
            notes.append(
                f"We now send this {stored.prefs.cadence.describe()} instead of "
                f"{stored.state.lowered_from.describe()}, because recent digests went unopened. "
                "One click restores it."
            )
        message_id = "m_" + secrets.token_hex(10)
        about_topics = sorted({t for i in items for t in i.topics})
        send_at = d.send_at or now
        return OutboxMessage(
            id=message_id,
            key=f"{user_id}|{channel.value}|{d.period}",
            user_id=user_id,
            channel=channel,
            period=d.period or "",
            kind="personal" if personal else "general",
            topics=about_topics,
            items=items,
            notes=notes,
            links=self.links(user_id, about_topics, message_id, restore),
            status=OutboxStatus.queued,
            planned_at=now,
            send_after=send_at,
            next_attempt_at=send_at,
            recommendation_id=recs.recommendation_id,
            local_day=local_day(Schedule.of(stored.prefs, stored.person_zone), send_at),
        )

    # -- feedback --------------------------------------------------------------------------
    def feedback(self, body: MessageFeedback | Mapping[str, Any]) -> FeedbackResult:
        """Apply a delivery or engagement report on a message; see the module docstring."""
        fb = body if isinstance(body, MessageFeedback) else _validate(MessageFeedback, body)
        message = self.store.get_message(fb.message_id)
        if message is None:
            raise NotFound(f"no message {fb.message_id!r}", field="message_id")
        at = fb.at or self.clock.now()
        user_id = message.user_id
        effects: list[str] = []
        detail: dict[str, Any] = {"item_id": fb.item_id, "topic": fb.topic, "channel": message.channel.value}
        self.store.record_message_feedback(message.id, user_id, fb.type.value, to_epoch(at), detail)
        t = fb.type
        if t in (FeedbackType.open, FeedbackType.click):
            self.store.update_message_prefs(user_id, _engaged, to_epoch(at))
            effects.append("ignore streak reset")
            if t is FeedbackType.click and fb.item_id is not None:
                if fb.item_id not in {i.item_id for i in message.items}:
                    raise ValidationError("the clicked item is not in this message", field="item_id")
                self.ingest([self._event(message, fb.item_id, "click", at)])
                effects.append("click event recorded")
        elif t is FeedbackType.unsubscribe:
            topic = fb.topic
            if topic is not None:
                self.unsubscribe(user_id, topic)
                effects.append(f"unsubscribed from {topic}")
            else:
                for topic in message.topics:
                    self.unsubscribe(user_id, topic)
                effects.append(f"unsubscribed from {', '.join(message.topics) or 'nothing'}")
        elif t in (FeedbackType.complaint, FeedbackType.hard_bounce):
            reason = "a complaint" if t is FeedbackType.complaint else "a hard bounce"
            self._suppress(user_id, message.channel, reason, at)
            effects.append(f"{message.channel.value} suppressed ({reason})")
            if t is FeedbackType.complaint:
                self.ingest([self._event(message, i.item_id, "complaint", at) for i in message.items])
                effects.append("strong negative on the digest's items and topics")
                wanted = [
                    tp for tp in message.topics if not self.topics.get(tp, TopicSettings(name="x")).required
                ]
                if wanted:
                    self.update_preferences(
                        user_id, {"topics": {tp: "opted_out" for tp in wanted if tp in self.topics}}
                    )
                    effects.append(f"unsubscribed from {', '.join(wanted)}")
        elif t is FeedbackType.soft_bounce:
            limit = self.settings.soft_bounce_limit

            def bounce(current: StoredPreferences) -> tuple[MessagePreferences, MessageState]:
                return current.prefs, current.state.model_copy(
                    update={"soft_bounces": current.state.soft_bounces + 1}
                )

            stored = self.store.update_message_prefs(user_id, bounce, to_epoch(at))
            effects.append(f"soft bounce {stored.state.soft_bounces} of {limit}")
            if stored.state.soft_bounces >= limit:
                self._suppress(user_id, message.channel, f"{limit} soft bounces in a row", at)
                effects.append(f"{message.channel.value} suppressed")
        return FeedbackResult(message_id=message.id, type=t, effects=effects)

    def _event(self, message: OutboxMessage, item_id: str, type_: str, at: datetime) -> Event:
        surface = self.settings.channel_surfaces.get(message.channel, "email_digest")
        return Event(
            id=f"{message.id}-{type_}-{item_id}"[:128],
            user_id=message.user_id,
            item_id=item_id,
            type=type_,
            timestamp=at,
            provenance=Provenance.explicit if type_ == "complaint" else Provenance.observed,
            surface=surface,
            recommendation_id=message.recommendation_id,
            context=EventContext(),
        )

    def _suppress(self, user_id: str, channel: Channel, reason: str, at: datetime) -> None:
        def apply(current: StoredPreferences) -> tuple[MessagePreferences, MessageState]:
            kept = [s for s in current.state.suppressed if s.channel is not channel]
            kept.append(Suppression(channel=channel, reason=reason, at=at))
            return current.prefs, current.state.model_copy(update={"suppressed": kept})

        self.store.update_message_prefs(user_id, apply, to_epoch(at))
        self.store.cancel_queued(user_id, f"{channel.value} suppressed: {reason}", channel.value)

    # -- outbox ----------------------------------------------------------------------------
    def outbox(
        self, user_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[OutboxMessage]:
        if user_id is not None:
            valid_user(user_id)
        if status is not None and status not in {s.value for s in OutboxStatus}:
            raise ValidationError(f"unknown status {status!r}", field="status")
        if not 1 <= limit <= 1000:
            raise ValidationError("limit must be between 1 and 1000", field="limit")
        return self.store.list_messages(user_id, status, limit)

    def message(self, message_id: str) -> OutboxMessage:
        found = self.store.get_message(message_id)
        if found is None:
            raise NotFound(f"no message {message_id!r}", field="message_id")
        return found

    def status(self) -> dict[str, int]:
        return self.store.message_counts()

    def allowed_now(self, stored: StoredPreferences, at: datetime) -> tuple[bool, str | None]:
        verdict = allowed(self.schedule(stored), at)
        return verdict.ok, verdict.reason


def _clear_notice(current: StoredPreferences) -> tuple[MessagePreferences, MessageState]:
    return current.prefs, current.state.model_copy(update={"notice_pending": False})


def _engaged(current: StoredPreferences) -> tuple[MessagePreferences, MessageState]:
    return current.prefs, current.state.model_copy(update={"ignored": 0, "soft_bounces": 0})


def _validate(model: type[Any], body: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or None
        raise ValidationError(str(first.get("msg", "invalid")), field=where) from None


def _valid_update(update: PreferencesUpdate | Mapping[str, Any]) -> PreferencesUpdate:
    if isinstance(update, PreferencesUpdate):
        return update
    result: PreferencesUpdate = _validate(PreferencesUpdate, update)
    return result


def epoch_dt(value: float | None) -> datetime | None:
    return None if value is None else from_epoch(value)
