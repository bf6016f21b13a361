"""The client's exceptions, under turbosio's root exception.

The tree (the rest of it is drawn in :mod:`turbosio.exceptions`)::

    TurbosioError
    ├── ConnectError (ConnectionError)  connect() failed: the server refused the connection
    │                                   (its message and data are kept) or could not be reached
    └── BufferFull                      an emit while disconnected found the offline buffer full
"""

from __future__ import annotations

from typing import Any

from ..protocol.errors import TurbosioError

__all__ = ["BufferFull", "ConnectError"]


class ConnectError(TurbosioError, ConnectionError):
    """The connection could not be made, or the server refused it.

    ``message`` is the server's message when it refused (a namespace's CONNECT_ERROR
    ``{"message", "data"}``, or the ``{"code", "message"}`` body of an HTTP error), otherwise
    a description of what went wrong ("timeout", the network error). ``data`` is the data the
    server sent with its refusal (``None`` when it sent none), ``namespace`` the namespace
    refused (``None`` when the whole connection failed) and ``status`` the HTTP status of a
    refused handshake. The ``connect_error`` handlers receive this exception too.

    It is also a :class:`ConnectionError`, so ``except ConnectionError`` catches it.
    """

    def __init__(
        self,
        message: str,
        data: Any = None,
        *,
        namespace: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        self.namespace = namespace
        self.status = status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ConnectError({self.message!r}, data={self.data!r}, namespace={self.namespace!r})"


class BufferFull(TurbosioError):
    """An emit made while disconnected did not fit in the offline buffer.

    The client keeps at most ``max_buffer`` packets while it is disconnected (see
    :class:`turbosio.AsyncClient`); raise the limit, wait for the ``connect`` event, or emit
    with ``volatile`` for data that may be dropped.
    """

    def __init__(self, message: str = "the offline buffer is full") -> None:
        super().__init__(message)
