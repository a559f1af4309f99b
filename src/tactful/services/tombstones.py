"""Erasure tombstones as the serving side sees them: which check a delayed write carries.

Served lists and back-off counters are produced by one worker and written later (see
:class:`~tactful.services.served_log.RecommendationLog`); a promoted placement is written
at the end of its request. An erasure on any other worker or host may commit in between.
Erasure therefore stores a tombstone (a keyed hash of the person id and the time), and every
such write passes an :class:`~tactful.storage.protocol.ErasureCheck` so the store drops,
inside the write's own transaction, each row produced for that person up to the erasure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tactful.storage.protocol import ErasureCheck


class Tombstones:
    """Builds the :class:`ErasureCheck` for the people of a write.

    ``subject`` is the keyed hash erasure files tombstones under (the same on every worker:
    it is keyed with the shared signing secret); ``margin`` (seconds) allows for the clocks
    of several hosts differing: a row produced up to ``margin`` after the erasure (by the
    producing host's clock) is dropped too.
    """

    def __init__(self, subject: Callable[[str], str], margin: float = 0.0) -> None:
        self.subject = subject
        self.margin = margin

    def check(self, user_ids: Iterable[str]) -> ErasureCheck:
        return ErasureCheck({u: self.subject(u) for u in set(user_ids)}, self.margin)
