"""The opt-out residue: what the engine still holds, learned through a sensitive phase (P8).

For every person with a sensitive phase who is not opted in at the end of the run (they
never opted in, or opted out when the phase ended), the engine must hold nothing learned
through the sensitive items: no item history on them, and no tag with more evidence than
the person's non-sensitive behaviour gave it. The probe records, from the simulation's own
event log, in which sessions each tag got positive signals from non-sensitive items; the
residue is the evidence beyond that, plus every sensitive item still weighted in the
person's item history (a kept dislike is no residue: a thumbs-down stays final, P2).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from tactful.engine import Engine
from tactful.simulation.world import Persona, World


@dataclass
class ResidueProbe:
    world: World
    max_evidence_keys: int = 32
    plain_sessions: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))

    def __post_init__(self) -> None:
        self._items = {i.id: i for i in self.world.items}

    def positive(self, person: Persona, item_id: str, session: str) -> None:
        item = self._items.get(item_id)
        if item is not None and not item.sensitive:
            for tag in item.tags:
                self.plain_sessions[(person.id, tag)].add(session)

    def residue(self, engine: Engine, last_day: int) -> int:
        """Residue summed over the people it applies to, read at the end of the run."""
        total = 0
        for person in self.world.people:
            if person.event_days is None or person.opted_in_on(last_day) or last_day < person.arrives_day:
                continue
            for interest in engine.profile(person.id).interests:
                expected = min(
                    len(self.plain_sessions.get((person.id, interest.tag), ())), self.max_evidence_keys
                )
                total += max(0, interest.evidence - expected)
            state = engine.person_state(person.id)
            for item_id, item_state in state.profile.items.items():
                item = self._items.get(item_id)
                if item is not None and item.sensitive and item_state.scores.parts:
                    total += 1
        return total
