"""Engine.IO v4 packets and HTTP long-polling payloads.

Pure codec: text or bytes in, :class:`Packet` out, and back. No I/O, no clock.

Wire forms (Engine.IO protocol v4, "4.1"):

* a text packet is its type digit followed by its data: ``"4hello"``, ``"2probe"``, ``"2"``;
* over WebSocket a binary message is the raw bytes of the frame;
* a polling payload joins packets with ``"\\x1e"``, and a binary message in it is ``"b"``
  followed by its standard base64 encoding: ``"4hello\\x1ebAQIDBA=="``.

The server's hot path does not build :class:`Packet` objects: it compares incoming text with
the constants below (:data:`PING`, :data:`PROBE_PING`, ...) and writes pre-encoded strings.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

import orjson

from .errors import DecodeError

__all__ = [
    "CLOSE",
    "NOOP",
    "PING",
    "PONG",
    "PROBE_PING",
    "PROBE_PONG",
    "SEPARATOR",
    "UPGRADE",
    "Packet",
    "PacketType",
    "decode_payload",
    "encode_binary_polling",
    "encode_open",
    "encode_payload",
]


class PacketType(IntEnum):
    """Engine.IO packet types: the digit that starts every text packet."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


#: Separates the packets of one HTTP long-polling payload (ASCII "record separator").
SEPARATOR = "\x1e"

#: Encoded packets the engine sends or expects as they are.
CLOSE = "1"
PING = "2"
PONG = "3"
NOOP = "6"
UPGRADE = "5"
#: The ping a client sends on a new WebSocket to probe it before upgrading, and the answer.
PROBE_PING = "2probe"
PROBE_PONG = "3probe"

# Indexed lookups instead of PacketType(int(c)): an enum call costs more than a dict hit.
_TYPE_BY_CHAR: dict[str, PacketType] = {str(int(t)): t for t in PacketType}
_CHAR_BY_TYPE: dict[PacketType, str] = {t: c for c, t in _TYPE_BY_CHAR.items()}
_MESSAGE = PacketType.MESSAGE
_BINARY_TYPES = (bytes, bytearray, memoryview)


@dataclass(frozen=True, slots=True)
class Packet:
    """One Engine.IO packet.

    ``data`` is ``None`` when nothing follows the type digit (``"2"`` decodes to
    ``Packet(PING)``, never to ``Packet(PING, "")``), a ``str`` for text data (``"2probe"`` has
    data ``"probe"``), or ``bytes`` for a binary message (type :attr:`PacketType.MESSAGE` only).
    """

    type: PacketType
    data: str | bytes | None = None

    def encode(self) -> str | bytes:
        """Encode for a WebSocket frame: ``str`` for a text frame, ``bytes`` for a binary one.

        A MESSAGE with ``bytes`` data encodes to the bytes themselves; for a polling payload
        use :func:`encode_payload` (or :func:`encode_binary_polling`), which base64 them.
        Raises ``ValueError`` for binary data on any other packet type.
        """
        data = self.data
        if data is None:
            return _CHAR_BY_TYPE[self.type]
        if isinstance(data, str):
            return _CHAR_BY_TYPE[self.type] + data
        if self.type != _MESSAGE:
            raise ValueError("only MESSAGE packets carry binary data")
        return bytes(data)

    @classmethod
    def decode(cls, data: str | bytes) -> Packet:
        """Decode one packet as a WebSocket frame (or one polling payload item) carries it.

        ``str``: a type digit and optional data. As Node's engine.io does, a text packet
        starting with ``"b"`` is a base64 binary message. ``bytes``: a binary MESSAGE.
        Raises :class:`~turbosio.protocol.DecodeError` on an empty packet, an unknown type,
        or bad base64.
        """
        if isinstance(data, str):
            if not data:
                raise DecodeError("empty packet")
            ptype = _TYPE_BY_CHAR.get(data[0])
            if ptype is None:
                if data[0] == "b":
                    return cls(_MESSAGE, _b64decode(data))
                raise DecodeError("unknown packet type")
            return cls(ptype, data[1:] or None)
        if isinstance(data, _BINARY_TYPES):
            return cls(_MESSAGE, bytes(data))
        raise TypeError(f"expected str or bytes, got {type(data).__name__}")


def _b64decode(item: str) -> bytes:
    """Decode ``"b" + base64``; missing "=" padding is tolerated, as Node's decoder does."""
    body = item[1:]
    missing = -len(body) % 4
    if missing:
        body += "=" * missing
    try:
        return b64decode(body, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        raise DecodeError("invalid base64 binary packet") from None


def encode_binary_polling(data: bytes) -> str:
    """Encode a binary message for a polling payload: ``"b"`` + standard base64."""
    return "b" + binascii.b2a_base64(data, newline=False).decode("ascii")


def encode_payload(packets: Iterable[str | bytes]) -> str:
    """Join packets into one HTTP long-polling payload.

    Each ``str`` item is an already encoded text packet (``"4hello"``, :data:`PING`); each
    ``bytes`` item is a binary message, encoded as ``"b"`` + base64.
    """
    return SEPARATOR.join(
        item if isinstance(item, str) else encode_binary_polling(item) for item in packets
    )


def decode_payload(body: str) -> list[Packet]:
    """Split a polling payload on ``"\\x1e"`` and decode every packet in it.

    ``"b..."`` items are base64 binary messages. Raises
    :class:`~turbosio.protocol.DecodeError` if any item is invalid (an empty body included).
    """
    decode = Packet.decode
    return [decode(item) for item in body.split(SEPARATOR)]


def encode_open(
    sid: str,
    upgrades: list[str],
    ping_interval_ms: int,
    ping_timeout_ms: int,
    max_payload: int,
) -> str:
    """Encode the handshake OPEN packet, keys in the order Node sends them:
    ``0{"sid":..,"upgrades":[..],"pingInterval":..,"pingTimeout":..,"maxPayload":..}``."""
    handshake = {
        "sid": sid,
        "upgrades": upgrades,
        "pingInterval": ping_interval_ms,
        "pingTimeout": ping_timeout_ms,
        "maxPayload": max_payload,
    }
    return "0" + orjson.dumps(handshake).decode()
