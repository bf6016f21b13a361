"""Session and socket ids: 15 random bytes in URL-safe base64 (20 characters), as Node's
``base64id`` makes them.

The bytes come from ``os.urandom``, read 4 KiB at a time into a pool (as ``base64id`` does
with ``crypto.randomBytes``) rather than one system call per id: a server that takes
thousands of connections a second makes two ids for each.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

__all__ = ["random_id"]

_POOL_SIZE = 4095  # a multiple of 15: the pool encodes into whole 20-character ids
_ID_CHARS = 20


def _refill() -> Iterator[str]:
    # 15 bytes encode to 20 characters with no padding, so the whole pool encodes at once
    # into consecutive ids.
    pool = base64.urlsafe_b64encode(os.urandom(_POOL_SIZE)).decode()
    return iter([pool[i : i + _ID_CHARS] for i in range(0, len(pool), _ID_CHARS)])


# The ids of the pool not handed out yet. ``next`` on a list iterator is atomic under the GIL,
# so threads (Flask handlers) never get the same id, with no lock; two threads that find the
# pool empty at once each make a new one, and the ids of the one replaced are never used.
_pool: Iterator[str] = iter(())


def random_id() -> str:
    """A fresh id: 15 bytes of ``os.urandom``, URL-safe base64, 20 characters."""
    global _pool
    sid = next(_pool, None)
    if sid is None:
        _pool = pool = _refill()
        sid = next(pool)
    return sid
