"""The root of turbosio's exceptions, and the one error its codecs raise.

They live here, on the ground floor, because :mod:`turbosio.protocol` imports nothing from the
rest of the package; :mod:`turbosio.exceptions` re-exports them with the rest of the tree.
"""

from __future__ import annotations

__all__ = ["DecodeError", "TurbosioError"]


class TurbosioError(Exception):
    """Root of every exception turbosio raises on purpose (see :mod:`turbosio.exceptions`)."""


class DecodeError(TurbosioError, ValueError):
    """Bytes or text that are not a valid Engine.IO / Socket.IO packet.

    The peer did wrong: a server closes that peer's connection, as Node's socket.io does, and
    goes on serving everyone else.
    """
