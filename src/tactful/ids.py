"""Random hex tokens for ids made on every request, without a system call each.

``secrets.token_hex`` asks the kernel for fresh bytes on every call; a recommendation
request makes two ids (the request id and the recommendation id), and on a virtual machine
those two ``getrandom`` calls cost a visible share of a cached request. :func:`token_hex`
takes the same operating-system randomness (``os.urandom``) 4 KiB at a time and hands it
out in slices, so the ids are as unpredictable as before and one call in a few hundred
reaches the kernel. Thread-safe; a process started by fork refills its own pool (the
parent's unused bytes are never handed out twice).
"""

from __future__ import annotations

import os
import threading

_CHUNK = 4096


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buf = b""
        self._pos = 0

    def take(self, nbytes: int) -> bytes:
        with self._lock:
            if self._pos + nbytes > len(self._buf):
                self._buf, self._pos = os.urandom(max(_CHUNK, nbytes)), 0
            out = self._buf[self._pos : self._pos + nbytes]
            self._pos += nbytes
            return out

    def reset(self) -> None:
        self._buf, self._pos = b"", 0
        self._lock = threading.Lock()


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.reset)


def token_hex(nbytes: int) -> str:
    """``2 * nbytes`` hex digits of operating-system randomness (as ``secrets.token_hex``)."""
    return _pool.take(nbytes).hex()
