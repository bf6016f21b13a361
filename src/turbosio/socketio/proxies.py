"""Trusted proxies: whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` headers to believe.

Behind a reverse proxy (nginx, a load balancer) every connection comes from the proxy, and
the client's address is in ``X-Forwarded-For``. Anyone can send that header, so it is read only
when the connection comes from a trusted proxy: ``turbosio.Server(trusted_proxies=...)`` with
addresses and networks (``"127.0.0.1"``, ``"10.0.0.0/8"``, ``"::1"``), or ``"*"`` to trust
every peer (only when the server cannot be reached but through the proxy).

The header is read from the right: each proxy appends the address it got the request from,
so the rightmost entry is the one the nearest proxy saw. Entries that are trusted proxies
themselves are skipped; the first one that is not is the client. Entries on the left of it
were written by the client and are ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

__all__ = ["TrustedProxies"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("["):  # "[::1]" or "[::1]:1234"
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:  # "1.2.3.4:5678"
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # "::ffff:127.0.0.1" is 127.0.0.1 (dual-stack sockets)
    return address


class TrustedProxies:
    """Which peers may tell the client's address (see the module docstring).

    ``trusted`` is ``None`` (no one: the peer address is the client's), ``"*"`` (every peer),
    or an address or network, or an iterable of them. A malformed entry raises ValueError.
    """

    __slots__ = ("_all", "_networks")

    def __init__(self, trusted: str | Iterable[str] | None = None) -> None:
        self._all = False
        self._networks: list[_Network] = []
        if trusted is None:
            return
        entries = [trusted] if isinstance(trusted, str) else list(trusted)
        for entry in entries:
            if entry.strip() == "*":
                self._all = True
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {entry!r} is not an IP address or network "
                    '(e.g. "127.0.0.1", "10.0.0.0/8" or "*")'
                ) from None

    def __bool__(self) -> bool:
        return self._all or bool(self._networks)

    def __repr__(self) -> str:
        shown = ["*"] if self._all else [str(n) for n in self._networks]
        return f"TrustedProxies({shown!r})"

    def trusts(self, address: str) -> bool:
        """Whether ``address`` (an IP address as text) is a trusted proxy."""
        if self._all:
            return True
        ip = _parse_ip(address)
        return ip is not None and any(ip in network for network in self._networks)

    def client_address(self, request: Any) -> str:
        """The client's address for ``request`` (an engine request with ``client`` and
        ``headers``): the peer's, unless the peer is trusted and sent ``X-Forwarded-For``."""
        client = request.client
        peer = str(client[0]) if client else ""
        if not self or not self.trusts(peer):
            return peer
        forwarded = request.headers.get("x-forwarded-for")
        if not forwarded:
            return peer
        address = peer
        for hop in reversed(forwarded.split(",")):
            ip = _parse_ip(hop)
            if ip is None:
                break  # garbage: keep the last address a trusted proxy vouched for
            address = str(ip)
            if not self.trusts(address):
                break
        return address

    def is_secure(self, request: Any) -> bool:
        """Whether the client reached us over TLS: the request's own scheme, or
        ``X-Forwarded-Proto: https`` from a trusted proxy (TLS ended at the proxy)."""
        if request.scheme in ("https", "wss"):
            return True
        if not self:
            return False
        client = request.client
        if not client or not self.trusts(str(client[0])):
            return False
        proto = request.headers.get("x-forwarded-proto", "")
        # Several proxies may each add theirs: the first is the one the client reached.
        return proto.split(",")[0].strip().lower() in ("https", "wss")
