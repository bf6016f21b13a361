"""Fuzzing: whatever a peer sends, a decoder either decodes it or raises DecodeError.

Any other exception would escape the engine's error handling and is a bug.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turbosio.protocol import DecodeError
from turbosio.protocol.engineio import Packet as EnginePacket
from turbosio.protocol.engineio import decode_payload
from turbosio.protocol.msgpack import MsgpackParser
from turbosio.protocol.socketio import Packet, json_parser

from .strategies import json_with_binary, msgpack_values, packets

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
msgpack_parser = MsgpackParser()

# Characters that steer a decoder down its branches, plus anything at all.
_protocol_chars = st.sampled_from(
    [*'0123456789-/,[]{}":._ \\eEtrufalsnb\x1e=+', "\u0661", "\ud800"]
)
_chars = _protocol_chars | st.characters()
_noise = st.text(_chars, max_size=40)


def _mutate(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (position, kind, chars) edits: 0 insert, 1 delete, 2 replace, 3 truncate."""
    for position, kind, chars in edits:
        at = position % (len(text) + 1)
        if kind == 0:
            text = text[:at] + chars + text[at:]
        elif kind == 1:
            text = text[:at] + text[at + len(chars) + 1 :]
        elif kind == 2:
            text = text[:at] + chars + text[at + len(chars) :]
        else:
            text = text[:at]
    return text


_edits = st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.text(_chars, min_size=1, max_size=3)),
    min_size=1,
    max_size=4,
)


def _feed_all(items: list[str | bytes]) -> None:
    decoder = json_parser.decoder()
    for item in items:
        with contextlib.suppress(DecodeError):
            decoder.feed(item)


@FUZZ
@given(st.lists(_noise | st.binary(max_size=20), max_size=6))
def test_json_decoder_on_random_messages(items: list[str | bytes]) -> None:
    _feed_all(items)


@FUZZ
@given(packets(json_with_binary), _edits, st.data())
def test_json_decoder_on_mutated_packets(packet: Packet, edits: Any, data: st.DataObject) -> None:
    items = json_parser.encode(packet)
    head = items[0]
    assert isinstance(head, str)
    mutated: list[str | bytes] = [_mutate(head, edits), *items[1:]]
    # Sometimes drop, repeat or reorder the attachments as well.
    mutated = data.draw(st.permutations(mutated)) if data.draw(st.booleans()) else mutated
    if data.draw(st.booleans()):
        mutated = mutated[: data.draw(st.integers(0, len(mutated)))] + mutated
    _feed_all(mutated)


@FUZZ
@given(_noise | st.binary(max_size=30))
def test_engineio_packet_decode(data: str | bytes) -> None:
    with contextlib.suppress(DecodeError):
        EnginePacket.decode(data)


@FUZZ
@given(
    st.lists(
        _noise
        | st.builds(lambda b: "b" + b, st.text("ABCDEFabcdef0123456789+/=\n -_", max_size=12)),
        min_size=1,
        max_size=5,
    )
)
def test_engineio_payload_decode(items: list[str]) -> None:
    with contextlib.suppress(DecodeError):
        decode_payload("\x1e".join(items))


def _msgpack_feed(raw: bytes | str) -> None:
    with contextlib.suppress(DecodeError):
        msgpack_parser.decoder().feed(raw)


@FUZZ
@given(st.binary(max_size=60) | _noise)
def test_msgpack_decoder_on_random_bytes(raw: bytes | str) -> None:
    _msgpack_feed(raw)


@FUZZ
@given(packets(msgpack_values), st.data())
def test_msgpack_decoder_on_mutated_packets(packet: Packet, data: st.DataObject) -> None:
    [raw] = msgpack_parser.encode(packet)
    assert isinstance(raw, bytes)
    buffer = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(buffer)))
        kind = data.draw(st.integers(0, 2))
        if kind == 0:
            buffer[at:at] = data.draw(st.binary(min_size=1, max_size=3))
        elif kind == 1:
            del buffer[at : at + data.draw(st.integers(1, 3))]
        else:
            buffer[at : at + 1] = bytes([data.draw(st.integers(0, 255))])
    _msgpack_feed(bytes(buffer))


@FUZZ
@given(msgpack_values)
def test_msgpack_decoder_on_any_msgpack_value(value: Any) -> None:
    import msgpack

    _msgpack_feed(msgpack.packb(value, default=lambda d: msgpack.ExtType(0, b"\x00" * 8)))
    for shape in ({"type": 2, "nsp": "/", "data": value}, {"type": value, "nsp": value}):
        _msgpack_feed(msgpack.packb(shape, default=lambda d: msgpack.ExtType(0, b"\x00" * 8)))
