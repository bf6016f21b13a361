"""The codecs against Node's own parsers (socket.io-parser, socket.io-msgpack-parser).

Each test runs tests/protocol/parsers.cjs once over a batch of packets, in both directions.
"""

from __future__ import annotations

import base64
import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from turbosio.protocol import DecodeError
from turbosio.protocol.msgpack import MsgpackParser
from turbosio.protocol.socketio import Packet, PacketType, json_parser

from .strategies import normalised
from .test_socketio import ROUND_TRIPS

pytestmark = pytest.mark.js

SCRIPT = Path(__file__).resolve().parent / "parsers.cjs"
E = PacketType.EVENT
A = PacketType.ACK
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def run(node: str, js_dir: Path, fmt: str, mode: str, payload: Any) -> Any:
    if not (js_dir / "node_modules" / "socket.io-msgpack-parser" / "package.json").is_file():
        pytest.fail("tests/js/node_modules/socket.io-msgpack-parser is missing (run `make js`)")
    done = subprocess.run(
        [node, str(SCRIPT), fmt, mode],
        cwd=js_dir,
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def tag(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"$b": base64.b64encode(value).decode()}
    if isinstance(value, datetime):
        return {"$date": (value - EPOCH) // _MS}
    if isinstance(value, list):
        return [tag(item) for item in value]
    if isinstance(value, dict):
        return {key: tag(item) for key, item in value.items()}
    return value


def untag(value: Any) -> Any:
    if isinstance(value, list):
        return [untag(item) for item in value]
    if isinstance(value, dict):
        if "$b" in value:
            return base64.b64decode(value["$b"])
        if "$ab" in value:
            return base64.b64decode(value["$ab"])
        if "$date" in value:
            return EPOCH + value["$date"] * _MS
        if "$undefined" in value:
            return None
        return {key: untag(item) for key, item in value.items()}
    return value


_MS = datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=timezone.utc) - EPOCH


def as_node(packet: Packet) -> dict[str, Any]:
    """The packet object Node's encoders take (and its decoders give back)."""
    obj: dict[str, Any] = {"type": int(packet.type), "nsp": packet.namespace}
    if packet.data is not None:
        obj["data"] = tag(packet.data)
    if packet.id is not None:
        obj["id"] = packet.id
    return obj


def from_node(obj: dict[str, Any]) -> Packet:
    assert "error" not in obj, obj
    return Packet(PacketType(obj["type"]), obj["nsp"], untag(obj.get("data")), obj.get("id"))


JSON_PACKETS = [packet for _, packet in ROUND_TRIPS] + [
    Packet(E, "/", ["message", b"\x01\x02\x03", b"\x04\x05\x06"]),
    Packet(E, "/admin", ["up", {"a": [1, b"A"], "b": {"c": b""}}, [b"C", "x"]], 7),
    Packet(A, "/", [b"\x00" * 300], 789),
    Packet(E, "/é", ["ü", "\U0001f600", -1.5e300, 2**53]),
]


def test_node_decodes_what_we_encode(node: str, js_dir: Path) -> None:
    encoded = [
        [item if isinstance(item, str) else tag(item) for item in json_parser.encode(packet)]
        for packet in JSON_PACKETS
    ]
    decoded = run(node, js_dir, "json", "decode", encoded)
    for packet, obj in zip(JSON_PACKETS, decoded, strict=True):
        assert from_node(obj) == normalised(packet)


def test_we_decode_what_node_encodes(node: str, js_dir: Path) -> None:
    encoded = run(node, js_dir, "json", "encode", [as_node(p) for p in JSON_PACKETS])
    for packet, items in zip(JSON_PACKETS, encoded, strict=True):
        decoder = json_parser.decoder()
        results = [decoder.feed(untag(item) if isinstance(item, dict) else item) for item in items]
        assert results[-1] == normalised(packet)
        assert [item if isinstance(item, str) else untag(item) for item in items] == (
            json_parser.encode(packet)
        )


# Packets Node's socket.io-parser accepts that turbosio refuses, on purpose (see the
# docstring of turbosio.protocol.socketio): digits must be ASCII digits, ack ids stay exact,
# EVENT/ACK/CONNECT_ERROR need their payload, and placeholders must resolve.
TIGHTENED = {
    "2",
    "3",
    "4",
    "2/admin,",
    "2/admin",
    '2/admin["a"]',
    "29007199254740992[1]",
    "2" + "9" * 5000 + "[1]",
    '5-["a"]',
    '5 1-["a"]',
    "61-",
    "51-",
    "6",  # Node: Number("") == 0 attachments
    "",  # Node: Number("") is 0, a CONNECT
    "41",
    '2 1["a"]',  # Node: Number(" ") == " ", so blanks count as ack id digits
    '2 ["foo"]',
    '0 {"a":1}',
    "2\n[1]",
}


def test_node_refuses_what_we_refuse(node: str, js_dir: Path) -> None:
    from .test_socketio import test_invalid_packets

    marks = test_invalid_packets.pytestmark  # type: ignore[attr-defined]
    wires: list[str] = next(m.args[1] for m in marks if m.name == "parametrize")
    wires = [wire for wire in wires if len(wire) < 1000]  # Node's stack, not its parser, fails
    verdicts = run(node, js_dir, "json", "decode", [[wire] for wire in wires])
    accepted_by_node = {
        wire for wire, result in zip(wires, verdicts, strict=True) if "error" not in result
    }
    assert accepted_by_node <= TIGHTENED
    for wire in wires:
        with pytest.raises(DecodeError):
            json_parser.decoder().feed(wire)


def test_node_accepts_what_we_accept(node: str, js_dir: Path) -> None:
    from .test_socketio import test_decode_only

    marks = test_decode_only.pytestmark  # type: ignore[attr-defined]
    cases: list[tuple[str, Packet]] = next(m.args[1] for m in marks if m.name == "parametrize")
    cases = cases + ROUND_TRIPS
    verdicts = run(node, js_dir, "json", "decode", [[wire] for wire, _ in cases])
    for (_, packet), obj in zip(cases, verdicts, strict=True):
        assert from_node(obj) == packet


def test_json_that_orjson_refuses_but_node_reads(node: str, js_dir: Path) -> None:
    wires = ['2["\\ud800"]', "2[1e400]", '2["\\udc00\\ud800"]', "3[1" + "0" * 400 + "]"]
    verdicts = run(node, js_dir, "json", "decode", [[wire] for wire in wires])
    assert all("error" not in verdict for verdict in verdicts)
    for wire in wires:
        assert decode_ok(wire)


def decode_ok(wire: str) -> bool:
    return json_parser.decoder().feed(wire) is not None


# --- msgpack ------------------------------------------------------------------------------

MSGPACK_PACKETS = [
    Packet(PacketType.CONNECT),
    Packet(PacketType.CONNECT, "/admin", {"token": "abc"}),
    Packet(PacketType.DISCONNECT, "/admin"),
    Packet(E, "/", ["chat", "hi"], 3),
    Packet(E, "/x", ["up", b"\x00", b"\x01" * 8, {"nested": [b"", 2**40, -7, 1.25, None]}]),
    Packet(A, "/", [datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)], 12),
    Packet(PacketType.CONNECT_ERROR, "/", {"message": "Not authorized"}),
    Packet(PacketType.CONNECT_ERROR, "/", "text"),
]


def test_node_msgpack_decodes_what_we_encode(node: str, js_dir: Path) -> None:
    parser = MsgpackParser()
    encoded = [[tag(parser.encode(packet)[0])] for packet in MSGPACK_PACKETS]
    decoded = run(node, js_dir, "msgpack", "decode", encoded)
    for packet, obj in zip(MSGPACK_PACKETS, decoded, strict=True):
        assert from_node(obj) == packet


def test_we_decode_what_node_msgpack_encodes(node: str, js_dir: Path) -> None:
    parser = MsgpackParser()
    node_packets = [as_node(packet) for packet in MSGPACK_PACKETS]
    # What only JavaScript has: undefined, and typed arrays (notepack's ext type 0).
    node_packets.append(
        {
            "type": 2,
            "nsp": "/",
            "data": [
                "js",
                {"$undefined": 1},
                {"$date": 1_700_000_000_123},
                {"$ab": base64.b64encode(b"z" * 300).decode()},
                {"key": {"$undefined": 1}},
            ],
        }
    )
    # Told apart from undefined and Date by their encoding (when not mixed with them).
    node_packets.append(
        {
            "type": 2,
            "nsp": "/",
            "data": [
                "js",
                {"$ab": "AA=="},  # a one-byte zero ArrayBuffer: not undefined
                {"$ab": base64.b64encode(bytes(range(8))).decode()},  # not a Date
            ],
        }
    )
    date = EPOCH + 1_700_000_000_123 * _MS
    expected = [
        *MSGPACK_PACKETS,
        Packet(E, "/", ["js", None, date, b"z" * 300, {"key": None}]),
        Packet(E, "/", ["js", b"\x00", bytes(range(8))]),
    ]
    encoded = run(node, js_dir, "msgpack", "encode", node_packets)
    for packet, items in zip(expected, encoded, strict=True):
        [raw] = items
        assert parser.decoder().feed(untag(raw)) == packet
