"""Hypothesis strategies for protocol packets, shared by the property and fuzz tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from turbosio.protocol.socketio import RESERVED_EVENTS, Packet, PacketType

# What both orjson and msgpack carry exactly.
_ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
_floats = st.floats(allow_nan=False, allow_infinity=False)
_texts = st.text(max_size=12)
# A dict shaped like a placeholder would be taken for one on the way back, in Node too.
_keys = _texts.filter(lambda key: key != "_placeholder")
_scalars = st.none() | st.booleans() | _ints | _floats | _texts
_binary = st.binary(max_size=16) | st.binary(max_size=4).map(bytearray)
_dates = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc)
).map(lambda d: d - timedelta(microseconds=d.microsecond % 1000))


def values(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nested lists and dicts (string keys) of ``leaves``."""
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
        max_leaves=12,
    )


json_values = values(_scalars)
json_with_binary = values(_scalars | _binary)
msgpack_values = values(_scalars | _binary | _dates)

namespaces = st.just("/") | _texts.filter(lambda s: "," not in s).map(lambda s: "/" + s)
ack_ids = st.none() | st.integers(min_value=0, max_value=2**53 - 1)
event_names = _texts.filter(lambda s: s not in RESERVED_EVENTS) | st.integers(0, 2**31) | _floats


def packets(
    args: st.SearchStrategy[Any], *, binary_types: bool = False
) -> st.SearchStrategy[Packet]:
    """Valid Socket.IO packets whose EVENT/ACK arguments are drawn from ``args``."""
    event_types = (
        [PacketType.EVENT, PacketType.BINARY_EVENT] if binary_types else [PacketType.EVENT]
    )
    ack_types = [PacketType.ACK, PacketType.BINARY_ACK] if binary_types else [PacketType.ACK]
    objects = st.dictionaries(_keys, json_values, max_size=4)
    return st.one_of(
        st.builds(Packet, st.just(PacketType.CONNECT), namespaces, st.none() | objects, ack_ids),
        st.builds(Packet, st.just(PacketType.DISCONNECT), namespaces, st.none(), ack_ids),
        st.builds(
            Packet,
            st.sampled_from(event_types),
            namespaces,
            st.tuples(event_names, st.lists(args, max_size=4)).map(lambda t: [t[0], *t[1]]),
            ack_ids,
        ),
        st.builds(
            Packet, st.sampled_from(ack_types), namespaces, st.lists(args, max_size=4), ack_ids
        ),
        st.builds(Packet, st.just(PacketType.CONNECT_ERROR), namespaces, _texts | objects, ack_ids),
    )


def normalised(packet: Packet) -> Packet:
    """The packet a decoder gives back: BINARY_* as EVENT/ACK, bytearrays as bytes."""
    kind = {PacketType.BINARY_EVENT: PacketType.EVENT, PacketType.BINARY_ACK: PacketType.ACK}
    return Packet(
        kind.get(packet.type, packet.type), packet.namespace, _bytes(packet.data), packet.id
    )


def _bytes(value: Any) -> Any:
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, list):
        return [_bytes(item) for item in value]
    if isinstance(value, dict):
        return {key: _bytes(item) for key, item in value.items()}
    return value
