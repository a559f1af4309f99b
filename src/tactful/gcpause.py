"""Hold the cyclic garbage collector off while a bounded batch builds its objects.

A 10k-event batch allocates a few hundred thousand small containers (rows, states, parts),
all alive until the batch ends. Python's generational collector, counting those allocations,
runs many young collections and then full ones over the whole heap (catalog, caches, model),
finding nothing to free: it cost about 40 % of batch ingest. Reference counting still frees
everything as usual; only the cycle search waits until the last paused section in the
process ends (the next young collection then runs as usual). Should paused sections overlap
without a break for longer than :data:`MAX_PAUSE_SECONDS`, the section that ends then runs
one collection, so cyclic garbage cannot pile up under a steady stream of batches.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MAX_PAUSE_SECONDS = 10.0

_lock = threading.Lock()
_depth = 0
_was_enabled = False
_since = 0.0


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause cyclic collection for the duration (re-entrant, and shared across threads)."""
    global _depth, _was_enabled, _since
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            _since = time.monotonic()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        collect = False
        with _lock:
            _depth -= 1
            if _depth == 0:
                if _was_enabled:
                    gc.enable()
            elif _was_enabled and time.monotonic() - _since > MAX_PAUSE_SECONDS:
                _since = time.monotonic()
                collect = True
        if collect:
            gc.collect()
