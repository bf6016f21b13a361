"""turbosio: a fast Socket.IO server and client for Python."""

from __future__ import annotations

from .exceptions import AckTimeout, ConnectionRefused, DecodeError, Disconnected, TurbosioError

__version__ = "0.1.0"

__all__ = [
    "AckTimeout",
    "ConnectionRefused",
    "DecodeError",
    "Disconnected",
    "TurbosioError",
    "__version__",
]
