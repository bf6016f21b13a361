"""Cross-origin checks for the engine's HTTP and WebSocket requests.

Browsers send ``Origin`` on cross-origin requests and on every WebSocket handshake; a server
that answers any origin lets any page talk to it with the user's cookies. So the default
(``cors_allowed_origins=None``) is the same origin only: the ``Origin``'s host must be the
request's ``Host`` (or the ``X-Forwarded-Host`` a reverse proxy set). Requests without
``Origin`` (non-browser clients, same-origin GETs) always pass.

The answers follow the ``cors`` npm package as Node's socket.io uses it: preflight ``OPTIONS``
gets 204 with ``Access-Control-Allow-Origin/-Methods/-Headers/-Credentials`` and ``Vary``;
every response to an allowed cross-origin request carries ``Access-Control-Allow-Origin`` (the
request's origin, or ``*`` when any origin is allowed without credentials) and
``Access-Control-Allow-Credentials``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

from .io import Headers

__all__ = ["CorsPolicy", "OriginsSetting"]

#: What ``cors_allowed_origins`` accepts.
OriginsSetting = None | str | Sequence[str] | Callable[[str], bool]

# Node's checkInvalidHeaderChar: HTAB, visible ASCII and obs-text are fine, nothing else.
_INVALID_HEADER_CHAR = re.compile(r"[^\t\x20-\x7e\x80-\xff]")

# The cors package's default list of methods for a preflight answer.
_PREFLIGHT_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE"


def _normalize(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def origin_is_invalid(origin: str) -> bool:
    """Whether an ``Origin`` header holds characters no header value may hold."""
    return _INVALID_HEADER_CHAR.search(origin) is not None


class CorsPolicy:
    """Decides whether an origin may talk to the engine, and what headers say so.

    ``allowed`` is the ``cors_allowed_origins`` setting: ``None`` (same origin only), ``"*"``
    (any), one origin, a list of origins, or a callable ``origin -> bool``.
    """

    __slots__ = ("_any", "_callable", "_credentials", "_origins", "_same_origin")

    def __init__(self, allowed: OriginsSetting, credentials: bool = True) -> None:
        self._credentials = credentials
        self._any = False
        self._same_origin = False
        self._callable: Callable[[str], bool] | None = None
        self._origins: frozenset[str] = frozenset()
        if allowed is None:
            self._same_origin = True
        elif isinstance(allowed, str):
            if allowed == "*":
                self._any = True
            else:
                self._origins = frozenset([_normalize(allowed)])
        elif callable(allowed):
            self._callable = allowed
        else:
            origins = list(allowed)
            if "*" in origins:
                self._any = True
            for origin in origins:
                if not isinstance(origin, str):
                    raise TypeError(
                        "cors_allowed_origins must hold origin strings such as "
                        f"'https://example.com', not {origin!r}"
                    )
            self._origins = frozenset(_normalize(o) for o in origins)

    def is_allowed(self, origin: str, headers: Mapping[str, str]) -> bool:
        """Whether a request with this ``Origin`` (and these request headers) may proceed."""
        if self._any:
            return True
        if self._same_origin:
            return _same_origin(origin, headers)
        if self._callable is not None:
            return bool(self._callable(origin))
        return _normalize(origin) in self._origins

    def refusal(self, origin: str, headers: Mapping[str, str]) -> str:
        """One log line explaining why ``origin`` was refused, naming the setting to change."""
        if self._same_origin:
            host = headers.get("host", "")
            return (
                f'origin "{origin}" refused: cors_allowed_origins is None, which allows only '
                f'the same origin (host "{host}"); list the origin in cors_allowed_origins'
            )
        if self._callable is not None:
            return f'origin "{origin}" refused by the cors_allowed_origins callable'
        return f'origin "{origin}" refused: not in cors_allowed_origins'

    def response_headers(self, origin: str | None) -> Headers:
        """Headers for a response to an allowed request (nothing without ``Origin``)."""
        if origin is None or self._same_origin:
            return []
        if self._any and not self._credentials:
            return [("Access-Control-Allow-Origin", "*")]
        headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if self._credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return headers

    def preflight_headers(self, origin: str, headers: Mapping[str, str]) -> Headers:
        """Headers for the 204 answer to an allowed preflight ``OPTIONS``."""
        if self._any and not self._credentials:
            out: Headers = [("Access-Control-Allow-Origin", "*")]
        else:
            out = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
            if self._credentials:
                out.append(("Access-Control-Allow-Credentials", "true"))
        out.append(("Access-Control-Allow-Methods", _PREFLIGHT_METHODS))
        # No list of allowed headers is configured, so reflect what the browser asks for.
        requested = headers.get("access-control-request-headers")
        if requested:
            out.append(("Access-Control-Allow-Headers", requested))
        out.append(("Vary", "Access-Control-Request-Headers"))
        return out


def _same_origin(origin: str, headers: Mapping[str, str]) -> bool:
    try:
        netloc = urlsplit(origin).netloc.lower()
    except ValueError:
        return False
    if not netloc:
        return False
    host = headers.get("host")
    if host is not None and netloc == host.strip().lower():
        return True
    # Behind a reverse proxy the Host may be the upstream's name; browsers cannot forge this
    # header on a cross-origin request without a preflight, which this policy refuses.
    forwarded = headers.get("x-forwarded-host")
    if forwarded is not None:
        first = forwarded.split(",", 1)[0].strip().lower()
        if netloc == first:
            return True
    return False
