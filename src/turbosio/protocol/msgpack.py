"""The msgpack parser: socket.io-msgpack-parser's wire format.

Each Socket.IO packet is one binary Engine.IO message holding a msgpack map
``{"type": 0-4, "nsp": "/...", "data": ..., "id": ...}`` ("data" and "id" left out when
absent). Binary values travel natively as msgpack ``bin``, so there are no attachments and no
BINARY_* packet types. It needs the optional ``msgpack`` package
(``pip install turbosio[msgpack]``), imported when the first :class:`MsgpackParser` is made.

Values from JavaScript peers (which use notepack.io) map to Python as follows: ``bin`` and
extension type 0 of any size (a Node ArrayBuffer or typed array) are ``bytes``; ``undefined``
(fixext 1, type 0) is ``None``; a ``Date`` (fixext 8, type 0) is an aware UTC ``datetime``,
and an aware or naive (taken as UTC) ``datetime`` encodes back to one. The Python msgpack
library does not say which ext form it read, so a 1-byte zero ArrayBuffer, or an 8-byte one,
is told apart from ``undefined`` or a ``Date`` by looking for its encoding in the message.

Strings with invalid UTF-8 read with U+FFFD in place of the bad bytes, as notepack reads
them, rather than failing the packet.

Validation follows socket.io-msgpack-parser (type an integer 0-4, ``nsp`` a string, payload
by type, ``id`` an integer if present), plus the JSON parser's EVENT rule (a non-empty list
starting with a non-reserved event name or a number) so the layer above sees the same
packets from either parser.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from .errors import DecodeError
from .socketio import RESERVED_EVENTS, Packet, PacketFields, PacketType, _packet

__all__ = ["MsgpackDecoder", "MsgpackParser"]

_TYPES = tuple(PacketType)[:5]  # CONNECT .. CONNECT_ERROR: msgpack has no BINARY_* types
_EVENT = PacketType.EVENT
_ACK = PacketType.ACK
_CONNECT = PacketType.CONNECT
_DISCONNECT = PacketType.DISCONNECT
_BINARY_EVENT = PacketType.BINARY_EVENT
_BINARY_ACK = PacketType.BINARY_ACK
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DATE = struct.Struct(">iI")  # notepack: signed high and unsigned low 32 bits of epoch ms
_MILLISECOND = timedelta(milliseconds=1)

_msgpack: Any = None


def _load_msgpack() -> Any:
    global _msgpack
    if _msgpack is None:
        try:
            import msgpack  # type: ignore[import-untyped,unused-ignore]
        except ImportError as exc:
            raise ImportError(
                "the msgpack parser needs the msgpack package: pip install turbosio[msgpack]"
            ) from exc
        _msgpack = msgpack
    return _msgpack


def _to_int(value: Any) -> int | None:
    """``value`` as an int if it is an integer (Number.isInteger), else ``None``."""
    kind = type(value)
    if kind is int:
        return cast(int, value)
    if kind is float and value.is_integer():
        return int(value)
    return None


class MsgpackDecoder:
    """Decoder of the msgpack parser. Stateless: one message is one packet, so one instance
    serves every connection."""

    __slots__ = ("_ext_type", "_unpackb")

    def __init__(self) -> None:
        msgpack = _load_msgpack()
        self._unpackb = msgpack.unpackb
        self._ext_type = msgpack.ExtType

    def feed(self, data: str | bytes) -> Packet | None:
        """Decode one binary Engine.IO message into a packet (never ``None``).

        Raises :class:`~turbosio.protocol.DecodeError` for text, bad msgpack or an invalid
        packet.
        """
        ptype, namespace, payload, ack_id = self.feed_fields(data)
        return _packet(ptype, namespace, payload, ack_id)

    def feed_fields(self, data: str | bytes) -> PacketFields:
        """Same as :meth:`feed`, the packet as ``(type, namespace, data, id)``."""
        if isinstance(data, str):
            raise DecodeError("the msgpack parser expects binary messages")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"expected str or bytes, got {type(data).__name__}")
        raw = bytes(data)
        try:
            decoded = self._unpackb(raw, ext_hook=self._ext_hook(raw), unicode_errors="replace")
        except Exception:  # msgpack raises ValueError subclasses, TypeError, ...
            raise DecodeError("invalid msgpack packet") from None
        if type(decoded) is not dict:
            raise DecodeError("invalid packet")
        ptype_num = _to_int(decoded.get("type"))
        if ptype_num is None or not 0 <= ptype_num <= 4:
            raise DecodeError("invalid packet type")
        ptype = _TYPES[ptype_num]
        namespace = decoded.get("nsp")
        if type(namespace) is not str:
            raise DecodeError("invalid namespace")
        payload = decoded.get("data")
        _check_payload(ptype, payload, "data" in decoded)
        ack_id = decoded.get("id")
        if ack_id is not None:
            ack_id = _to_int(ack_id)
            if ack_id is None:
                raise DecodeError("invalid packet id")
        return ptype, namespace, payload, ack_id

    def _ext_hook(self, raw: bytes) -> Any:
        ext_type = self._ext_type

        def hook(code: int, data: bytes) -> Any:
            if code != 0:
                return ext_type(code, data)
            size = len(data)
            # fixext 1 "d4 00 00" is undefined; ext 8 "c7 01 00 00" a one-byte ArrayBuffer.
            if size == 1 and data == b"\x00" and b"\xc7\x01\x00\x00" not in raw:
                return None
            # fixext 8 "d7 00 ..." is a Date; ext 8 "c7 08 00 ..." an 8-byte ArrayBuffer.
            if size == 8 and b"\xc7\x08\x00" + data not in raw:
                high, low = _DATE.unpack(data)
                try:
                    return _EPOCH + (high * 2**32 + low) * _MILLISECOND
                except (OverflowError, ValueError, OSError):
                    return data
            return data

        return hook


def _check_payload(ptype: PacketType, data: Any, present: bool) -> None:
    if ptype is _EVENT:
        if type(data) is not list or not data:
            raise DecodeError("invalid payload")
        kind = type(data[0])
        if kind is str:
            if data[0] in RESERVED_EVENTS:
                raise DecodeError("reserved event name")
        elif kind is not int and kind is not float:
            raise DecodeError("invalid payload")
    elif ptype is _ACK:
        if type(data) is not list:
            raise DecodeError("invalid payload")
    elif ptype is _CONNECT:
        # notepack's undefined decodes to None: a present None is an absent payload.
        if data is not None and type(data) is not dict:
            raise DecodeError("invalid payload")
    elif ptype is _DISCONNECT:
        if present and data is not None:
            raise DecodeError("invalid payload")
    elif type(data) is not str and type(data) is not dict:  # CONNECT_ERROR
        raise DecodeError("invalid payload")


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        if obj.tzinfo is None:
            obj = obj.replace(tzinfo=timezone.utc)
        millis = (obj - _EPOCH) // _MILLISECOND
        return _msgpack.ExtType(0, _DATE.pack(millis >> 32, millis & 0xFFFFFFFF))
    raise TypeError(f"can not serialize {type(obj).__name__!r} object")


class MsgpackParser:
    """The msgpack parser (socket.io-msgpack-parser), for clients built with it, such as
    the ``socket.io.msgpack.min.js`` bundle."""

    __slots__ = ("_decoder", "_packb")

    def __init__(self) -> None:
        msgpack = _load_msgpack()
        self._packb = msgpack.packb
        self._decoder = MsgpackDecoder()

    def encode(self, packet: Packet) -> list[str | bytes]:
        """Encode a packet as one msgpack message (BINARY_* types go out as EVENT/ACK).

        Raises ``TypeError`` for data msgpack cannot serialise (too large an int, too deep,
        an unknown type).
        """
        ptype = int(packet.type)
        if ptype == _BINARY_EVENT:
            ptype = 2
        elif ptype == _BINARY_ACK:
            ptype = 3
        obj: dict[str, Any] = {"type": ptype, "nsp": packet.namespace}
        if packet.data is not None:
            obj["data"] = packet.data
        if packet.id is not None:
            obj["id"] = packet.id
        try:
            encoded = self._packb(obj, default=_default)
        except (ValueError, OverflowError) as exc:
            raise TypeError(f"cannot encode packet data: {exc}") from None
        return [cast(bytes, encoded)]

    def decoder(self, max_attachments: int | None = None) -> MsgpackDecoder:
        """The decoder (stateless, shared by every connection; msgpack packets have no
        attachments, so ``max_attachments`` is ignored)."""
        return self._decoder
