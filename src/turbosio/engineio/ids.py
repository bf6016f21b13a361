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

_POOL_SIZE = 4095  # a multiple of 15: the pool encodes into whole 20-character ids
_ID_CHARS = 20
_lock = threading.Lock()
# The pool, already encoded: the next id is the 20 characters at _pos.
_ids = ""
_pos = _POOL_SIZE // 15 * _ID_CHARS


def random_id() -> str:
    """A fresh id: 15 bytes of ``os.urandom``, URL-safe base64, 20 characters."""
    global _ids, _pos
    with _lock:
        pos = _pos
        if pos >= len(_ids):
            # 15 bytes encode to 20 characters with no padding, so the whole pool encodes
            # at once into consecutive ids.
            _ids = base64.urlsafe_b64encode(os.urandom(_POOL_SIZE)).decode()
            pos = 0
        _pos = pos + _ID_CHARS
        return _ids[pos : pos + _ID_CHARS]
