"""What both front ends (the embedded server, the ASGI app) do alike with a request's bytes:
its headers and its query string decoded into the mappings the engine reads.

Header names and the values that recur from client to client are decoded once and shared:
an engine session keeps the request that opened it, so each connection would otherwise hold
its own copy of each (and pay for decoding it).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl

__all__ = ["decode_headers", "parse_query"]

# Raw name -> lower-case str, one string per name for the whole server. Bounded, as a client
# may send any names.
_names: dict[bytes, str] = {}
_MAX_NAMES = 512

# Raw value -> str, for the headers below only: values that differ per client (keys, cookies)
# are not kept. Bounded, and emptied when full.
_values: dict[bytes, str] = {}
_MAX_VALUES = 1024
_SHARED_VALUE_HEADERS = frozenset(
    {
        "host",
        "connection",
        "upgrade",
        "origin",
        "user-agent",
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "pragma",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-ch-ua",
        "sec-ch-ua-mobile",
        "sec-ch-ua-platform",
        "sec-fetch-dest",
        "sec-fetch-mode",
        "sec-fetch-site",
        "content-type",
        "x-forwarded-proto",
    }
)


def decode_headers(pairs: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers as a dict: lower-case names, latin-1 values. A repeated header's values
    are joined with ", " (``cookie``: with "; "), as Node's HTTP server joins them."""
    headers: dict[str, str] = {}
    names = _names
    values = _values
    for raw_name, raw_value in pairs:
        name = names.get(raw_name)
        if name is None:
            name = raw_name.decode("latin-1").lower()
            if len(names) < _MAX_NAMES:
                names[raw_name] = name
        value = values.get(raw_value)
        if value is None:
            value = raw_value.decode("latin-1")
            if name in _SHARED_VALUE_HEADERS and len(raw_value) <= 512:
                if len(values) >= _MAX_VALUES:
                    values.clear()
                values[raw_value] = value
        if name in headers:
            headers[name] += ("; " if name == "cookie" else ", ") + value
        else:
            headers[name] = value
    return headers


def parse_query(qs: str) -> dict[str, str]:
    """The query string's parameters, the first value of each (as ``parse_qsl`` decodes them,
    blank values kept)."""
    query: dict[str, str] = {}
    if not qs:
        return query
    if "%" in qs or "+" in qs:
        for name, value in parse_qsl(qs, keep_blank_values=True):
            query.setdefault(name, value)
    else:
        # Nothing to decode (an Engine.IO query: EIO=4&transport=polling&sid=...): the pairs
        # as parse_qsl would give them, at a fraction of its cost.
        for pair in qs.split("&"):
            if pair:
                name, _, value = pair.partition("=")
                query.setdefault(name, value)
    return query
