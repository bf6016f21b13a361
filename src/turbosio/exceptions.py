"""Exceptions raised by turbosio.

The tree::

    TurbosioError                       root: catch this to catch them all
    ├── DecodeError (ValueError)        a packet that does not decode; the peer did wrong
    ├── ConnectionRefused               raise it in a connect handler or middleware to refuse
    │                                   a client: it gets CONNECT_ERROR {"message", "data"}
    ├── AckTimeout (TimeoutError)       no acknowledgement within the timeout
    └── Disconnected                    the socket went away before the operation completed

Misuse of the API raises ``TypeError``/``ValueError``/``RuntimeError`` with a message that
says what to do instead.
"""

from __future__ import annotations

from typing import Any

from .protocol.errors import DecodeError, TurbosioError

__all__ = ["AckTimeout", "ConnectionRefused", "DecodeError", "Disconnected", "TurbosioError"]


class ConnectionRefused(TurbosioError):
    """Refuse a connection to a namespace.

    Raise it from a ``connect`` handler or a middleware; the client receives a CONNECT_ERROR
    packet ``{"message": message, "data": data}`` (``data`` left out when ``None``), which the
    JavaScript client reports as a ``connect_error`` whose ``message``/``data`` are these.
    """

    def __init__(self, message: str = "Connection refused", data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class AckTimeout(TurbosioError, TimeoutError):
    """No acknowledgement arrived in time ("operation has timed out", as Node says).

    For a broadcast, ``responses`` holds the replies that did arrive.
    """

    def __init__(self, message: str = "operation has timed out", responses: Any = None) -> None:
        super().__init__(message)
        self.responses = responses


class Disconnected(TurbosioError):
    """The socket disconnected before the operation completed ("socket has been
    disconnected"); reconnect or give up."""

    def __init__(self, message: str = "socket has been disconnected") -> None:
        super().__init__(message)
