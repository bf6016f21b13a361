"""turbosio.protocol: the pure Engine.IO v4 and Socket.IO v5 codecs.

No I/O and no clock: text and bytes in, packets out, and back. Everything here raises
:class:`DecodeError` (a ``ValueError``) for input a peer got wrong, and ``TypeError`` when
asked to encode values the codec cannot serialise.

* :mod:`turbosio.protocol.engineio`: Engine.IO packets and polling payloads (names below
  prefixed ``Engine`` where they would clash: :class:`EnginePacket`, :class:`EnginePacketType`);
* :mod:`turbosio.protocol.socketio`: Socket.IO packets, the :class:`Parser` interface, the
  default JSON parser and the hot-path encoders;
* :mod:`turbosio.protocol.msgpack`: the msgpack parser (needs ``turbosio[msgpack]``).
"""

from __future__ import annotations

from . import engineio
from .engineio import Packet as EnginePacket
from .engineio import PacketType as EnginePacketType
from .engineio import decode_payload, encode_binary_polling, encode_open, encode_payload
from .errors import DecodeError, TurbosioError
from .msgpack import MsgpackDecoder, MsgpackParser
from .socketio import (
    RESERVED_EVENTS,
    Decoder,
    JsonDecoder,
    JsonParser,
    Packet,
    PacketFields,
    PacketType,
    Parser,
    encode_ack_text,
    encode_event_text,
    has_binary,
    json_parser,
)

__all__ = [
    "RESERVED_EVENTS",
    "DecodeError",
    "Decoder",
    "EnginePacket",
    "EnginePacketType",
    "JsonDecoder",
    "JsonParser",
    "MsgpackDecoder",
    "MsgpackParser",
    "Packet",
    "PacketFields",
    "PacketType",
    "Parser",
    "TurbosioError",
    "decode_payload",
    "encode_ack_text",
    "encode_binary_polling",
    "encode_event_text",
    "encode_open",
    "encode_payload",
    "engineio",
    "has_binary",
    "json_parser",
]
