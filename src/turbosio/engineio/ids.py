"""Session and socket ids: 15 random bytes in URL-safe base64 (20 characters), as Node's
``base64id`` makes them.

The bytes come from ``os.urandom``, read 4 KiB at a time into a pool (as ``base64id`` does
with ``crypto.randomBytes``) rather than one system call per id: a server that takes
thousands of connections a second makes two ids for each.
"""

from __future__ import annotations

import base64
import os
import threading

__all__ = ["random_id"]

_POOL_SIZE = 4095  # a multiple of 15
_lock = threading.Lock()
_pool = b""
_pos = _POOL_SIZE


def random_id() -> str:
    """A fresh id: 15 bytes of ``os.urandom``, URL-safe base64, 20 characters."""
    global _pool, _pos
    with _lock:
        pos = _pos
        if pos >= _POOL_SIZE:
            _pool = os.urandom(_POOL_SIZE)
            pos = 0
        _pos = pos + 15
        chunk = _pool[pos : pos + 15]
    return base64.urlsafe_b64encode(chunk).decode()
