"""Round-trip properties: whatever the encoders write, the decoders read back unchanged."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turbosio.protocol.engineio import Packet as EnginePacket
from turbosio.protocol.engineio import PacketType as EnginePacketType
from turbosio.protocol.engineio import decode_payload, encode_payload
from turbosio.protocol.msgpack import MsgpackParser
from turbosio.protocol.socketio import (
    Packet,
    PacketType,
    encode_ack_text,
    encode_event_text,
    has_binary,
    json_parser,
)

from .strategies import json_values, json_with_binary, msgpack_values, normalised, packets

# deadline=None: a shared 2-core machine makes per-example timings meaningless.
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
msgpack_parser = MsgpackParser()


@FAST
@given(packets(json_with_binary, binary_types=True))
def test_json_parser_round_trip(packet: Packet) -> None:
    items = json_parser.encode(packet)
    assert isinstance(items[0], str)
    assert all(isinstance(item, bytes) for item in items[1:])
    decoder = json_parser.decoder(max_attachments=len(items))
    for item in items[:-1]:
        assert decoder.feed(item) is None
    assert decoder.feed(items[-1]) == normalised(packet)
    assert not decoder.awaiting_attachments


@FAST
@given(packets(json_with_binary, binary_types=True))
def test_binary_is_never_sent_as_plain_event(packet: Packet) -> None:
    items = json_parser.encode(packet)
    head = items[0]
    assert isinstance(head, str)
    if has_binary(packet.data):
        assert head[0] in "56"
        assert head[1 : head.index("-")] == str(len(items) - 1)
    else:
        assert len(items) == 1
        assert head[0] in "01234"


@FAST
@given(packets(json_values))
def test_hot_path_text_equals_the_encoder(packet: Packet) -> None:
    [text] = json_parser.encode(packet)
    if packet.type is PacketType.EVENT:
        assert encode_event_text(packet.namespace, packet.data, packet.id) == "4" + text
    elif packet.type is PacketType.ACK and packet.id is not None:
        assert encode_ack_text(packet.namespace, packet.data, packet.id) == "4" + text


@FAST
@given(packets(msgpack_values))
def test_msgpack_parser_round_trip(packet: Packet) -> None:
    [raw] = msgpack_parser.encode(packet)
    assert isinstance(raw, bytes)
    assert msgpack_parser.decoder().feed(raw) == normalised(packet)


@FAST
@given(
    st.lists(
        st.builds(
            EnginePacket,
            st.sampled_from(list(EnginePacketType)),
            st.none() | st.text(min_size=1).filter(lambda s: "\x1e" not in s),
        )
        | st.builds(EnginePacket, st.just(EnginePacketType.MESSAGE), st.binary()),
        min_size=1,
        max_size=5,
    )
)
def test_engineio_payload_round_trip(engine_packets: list[EnginePacket]) -> None:
    items = []
    for packet in engine_packets:
        encoded = packet.encode()
        assert EnginePacket.decode(encoded) == packet
        items.append(encoded)
    assert decode_payload(encode_payload(items)) == engine_packets
