"""Micro-benchmarks of the codecs (pytest-benchmark; run by ``make bench``, not ``make test``).

Named ``bench_*.py`` so the default test run does not collect them; each also asserts the
result, so a benchmark that measures the wrong thing fails instead.
"""

from __future__ import annotations

from typing import Any

from turbosio.protocol import engineio as eio
from turbosio.protocol.socketio import (
    Packet,
    PacketType,
    encode_ack_text,
    encode_event_text,
    json_parser,
)

PAYLOAD = {"user": "bench", "seq": 12345, "text": "a" * 60}
EVENT_TEXT = '21["echo",' + '{"user":"bench","seq":12345,"text":"' + "a" * 60 + '"}]'


def test_encode_event_text(benchmark: Any) -> None:
    """The hot-path encoder of an emit: ``42["chat",{...}]``."""
    text = benchmark(encode_event_text, "/", ["chat", PAYLOAD])
    assert text is not None and text.startswith('42["chat",')


def test_encode_ack_text(benchmark: Any) -> None:
    """The hot-path encoder of an acknowledgement: ``431[{...}]``."""
    text = benchmark(encode_ack_text, "/", [PAYLOAD], 1)
    assert text is not None and text.startswith("431[")


def test_parser_encode_packet(benchmark: Any) -> None:
    """The generic encoder, through a Packet (namespaces other than the fast path)."""
    packet = Packet(PacketType.EVENT, "/chat", ["chat", PAYLOAD], 7)
    out = benchmark(json_parser.encode, packet)
    assert out[0].startswith('2/chat,7["chat",')


def test_decode_event(benchmark: Any) -> None:
    """Decoding one incoming event with an ack id, as the server does per message."""
    decoder = json_parser.decoder()
    fields = benchmark(decoder.feed_fields, EVENT_TEXT)
    assert fields is not None and fields[0] == PacketType.EVENT and fields[3] == 1


def test_decode_binary_event(benchmark: Any) -> None:
    """A binary event: the header, then its attachment."""
    decoder = json_parser.decoder()
    header = '51-["up",{"_placeholder":true,"num":0}]'

    def feed() -> Any:
        decoder.feed_fields(header)
        return decoder.feed_fields(b"\x01\x02\x03")

    fields = benchmark(feed)
    assert fields is not None and fields[2][1] == b"\x01\x02\x03"


def test_engineio_polling_payload(benchmark: Any) -> None:
    """Splitting a polling payload of 16 packets."""
    payload = "\x1e".join(["4" + EVENT_TEXT] * 16)
    packets = benchmark(eio.decode_payload, payload)
    assert len(packets) == 16
