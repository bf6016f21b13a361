"""Socket.IO v5 JSON parser: encoding, decoding, validation, binary attachments, hot path.

Wire strings come from the Socket.IO v5 protocol document and its official test suite
(which sends them with the Engine.IO "4" in front; the decoder sees what follows it).
"""

from __future__ import annotations

from typing import Any

import pytest

from turbosio.protocol import DecodeError
from turbosio.protocol.socketio import (
    RESERVED_EVENTS,
    JsonDecoder,
    JsonParser,
    Packet,
    PacketType,
    encode_ack_text,
    encode_event_text,
    has_binary,
    json_parser,
)

E = PacketType.EVENT
A = PacketType.ACK


def ph(num: int) -> dict[str, Any]:
    return {"_placeholder": True, "num": num}


PH0 = '{"_placeholder":true,"num":0}'
PH1 = '{"_placeholder":true,"num":1}'


def decode(text: str) -> Packet:
    packet = json_parser.decoder().feed(text)
    assert packet is not None
    return packet


def test_packet_type_values() -> None:
    assert [(t.name, int(t)) for t in PacketType] == [
        ("CONNECT", 0),
        ("DISCONNECT", 1),
        ("EVENT", 2),
        ("ACK", 3),
        ("CONNECT_ERROR", 4),
        ("BINARY_EVENT", 5),
        ("BINARY_ACK", 6),
    ]


def test_packet_is_frozen_with_defaults() -> None:
    packet = Packet(PacketType.CONNECT)
    assert (packet.namespace, packet.data, packet.id) == ("/", None, None)
    with pytest.raises(AttributeError):
        packet.namespace = "/x"  # type: ignore[misc]
    assert not hasattr(packet, "__dict__")


# Both directions: the protocol document's examples and the test suite's packets.
ROUND_TRIPS = [
    ("0", Packet(PacketType.CONNECT)),
    ("0/admin,", Packet(PacketType.CONNECT, "/admin")),
    (
        '0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}',
        Packet(PacketType.CONNECT, "/admin", {"sid": "oSO0OpakMV_3jnilAAAA"}),
    ),
    ('0{"token":"123"}', Packet(PacketType.CONNECT, "/", {"token": "123"})),
    (
        '4{"message":"Not authorized"}',
        Packet(PacketType.CONNECT_ERROR, "/", {"message": "Not authorized"}),
    ),
    (
        '4/random,{"message":"Invalid namespace"}',
        Packet(PacketType.CONNECT_ERROR, "/random", {"message": "Invalid namespace"}),
    ),
    ('4"just text"', Packet(PacketType.CONNECT_ERROR, "/", "just text")),
    ('2["foo"]', Packet(E, "/", ["foo"])),
    ('2/admin,["bar"]', Packet(E, "/admin", ["bar"])),
    ('212["foo"]', Packet(E, "/", ["foo"], 12)),
    ('3/admin,13["bar"]', Packet(A, "/admin", ["bar"], 13)),
    ("3/admin,13[]", Packet(A, "/admin", [], 13)),
    ("1", Packet(PacketType.DISCONNECT)),
    ("1/admin,", Packet(PacketType.DISCONNECT, "/admin")),
    ('2["message",1,"2",{"3":[true]}]', Packet(E, "/", ["message", 1, "2", {"3": [True]}])),
    (
        '2456["message-with-ack",1,"2",{"3":[false]}]',
        Packet(E, "/", ["message-with-ack", 1, "2", {"3": [False]}], 456),
    ),
    ('3456[1,"2",{"3":[false]}]', Packet(A, "/", [1, "2", {"3": [False]}], 456)),
    ("2[42]", Packet(E, "/", [42])),
    ("2[1.5,null]", Packet(E, "/", [1.5, None])),
    ('2/a/b,0["x"]', Packet(E, "/a/b", ["x"], 0)),
]


@pytest.mark.parametrize(("wire", "packet"), ROUND_TRIPS)
def test_round_trips(wire: str, packet: Packet) -> None:
    assert decode(wire) == packet
    assert json_parser.encode(packet) == [wire]


@pytest.mark.parametrize(
    ("wire", "packet"),
    [
        ("0/custom", Packet(PacketType.CONNECT, "/custom")),  # no comma: the rest is the nsp
        ("0/random", Packet(PacketType.CONNECT, "/random")),
        ("1/custom", Packet(PacketType.DISCONNECT, "/custom")),
        ('21 ["foo"] ', Packet(E, "/", ["foo"], 1)),  # JSON.parse allows surrounding blanks
        ('2007["x"]', Packet(E, "/", ["x"], 7)),
        ('0/a,{"x":{"_placeholder":true,"num":0}}', Packet(PacketType.CONNECT, "/a", {"x": ph(0)})),
        # placeholders in a non-binary packet are plain data, as in Node
        (f'2["x",{PH0}]', Packet(E, "/", ["x", ph(0)])),
        ("29007199254740991[1]", Packet(E, "/", [1], 2**53 - 1)),
    ],
)
def test_decode_only(wire: str, packet: Packet) -> None:
    assert decode(wire) == packet


@pytest.mark.parametrize(
    "wire",
    [
        "",  # nothing at all
        "abc",  # the test suite's "invalid format (unknown type)" ("4abc" minus the "4")
        "7",
        "9[]",
        "x",
        '٢["a"]',  # a non-ASCII digit
        "2{}",  # the test suite's "invalid format (payload)"
        '2abc["message-with-ack",1,"2",{"3":[false]}]',  # "invalid format (ack id)"
        "2",  # EVENT without payload
        "2[]",  # empty EVENT
        "2[null]",
        "2[true]",  # a boolean is not a number
        '2[["a"]]',
        '2[{"a":1}]',
        '2"foo"',
        "2null",
        "2/admin,",
        "2/admin",
        '2/admin["a"]',  # no comma: the namespace runs to the end, leaving no payload
        '2["foo"',  # bad JSON
        '2["foo"]x',  # trailing garbage
        '2["foo"]]',
        '2["foo"],',
        "2[NaN]",
        '2 ["foo"]',  # Node reads the blank as ack id 0: refused
        '0 {"a":1}',
        "2\n[1]",
        "2" + "[" * 2000 + "]" * 2000,  # deeper than the JSON decoder goes
        "3",  # ACK without payload
        "3{}",
        '3"a"',
        "3null",
        "1{}",  # DISCONNECT with a payload
        "1null",
        '1/admin,{"a":1}',
        "0[]",  # CONNECT payload must be an object
        '0"a"',
        "0null",
        "0/admin,[]",
        "4",  # CONNECT_ERROR without payload
        "4[]",
        "4null",
        "41",
        "29007199254740992[1]",  # above 2**53 - 1
        "2" + "9" * 5000 + "[1]",
        '2-1["a"]',
        '2 1["a"]',
        "5",  # BINARY_EVENT without attachment count
        '5["a"]',
        '5-["a"]',
        '5x-["a"]',
        '5 1-["a"]',
        '51["a"]',
        '51-["a"',
        "51-",
        '51-{"a":1}',
        '51-["connect"]',
        "6",
        "61-",
        '61-"a"',
        '611-["a"]',  # more than 10 attachments
        "6" + "9" * 5000 + '-["a"]',
        '\u0032["a"]x',
    ],
)
def test_invalid_packets(wire: str) -> None:
    with pytest.raises(DecodeError):
        json_parser.decoder().feed(wire)


def test_json_that_only_javascript_reads() -> None:
    # orjson refuses these; JSON.parse takes them, so a JavaScript peer may send them.
    assert decode('2["cut \\ud83d", "\\ud83d\\ude00", {"\\udc00": "\\ud800x"}]').data == [
        "cut \ufffd",
        "\U0001f600",
        {"\ufffd": "\ufffdx"},
    ]
    assert decode('4"\\udfff"').data == "\ufffd"
    assert decode("2[1e400,-1e400]").data == [float("inf"), float("-inf")]
    assert decode("3[123456789012345678901234567890]").data == [1.2345678901234568e29]
    assert json_parser.encode(decode('2["\\ud800"]')) == ['2["\ufffd"]']


@pytest.mark.parametrize("name", sorted(RESERVED_EVENTS))
def test_reserved_event_names_are_refused(name: str) -> None:
    assert name in {
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    }
    with pytest.raises(DecodeError):
        decode(f'2["{name}"]')
    with pytest.raises(DecodeError):
        decode(f'2/chat,3["{name}",1]')
    with pytest.raises(DecodeError):
        json_parser.decoder().feed(f'51-["{name}",{PH0}]')
    # As an argument or an ack value they are plain strings.
    assert decode(f'2["x","{name}"]').data == ["x", name]
    assert decode(f'31["{name}"]').data == [name]


# --- binary attachments ------------------------------------------------------------------


def test_binary_event_from_the_test_suite() -> None:
    decoder = json_parser.decoder()
    assert decoder.feed(f'52-["message",{PH0},{PH1}]') is None
    assert decoder.awaiting_attachments
    assert decoder.feed(b"\x01\x02\x03") is None
    packet = decoder.feed(b"\x04\x05\x06")
    assert packet == Packet(E, "/", ["message", b"\x01\x02\x03", b"\x04\x05\x06"])
    assert not decoder.awaiting_attachments
    # and the reply the server sends
    reply = Packet(E, "/", ["message-back", b"\x01\x02\x03", b"\x04\x05\x06"])
    assert json_parser.encode(reply) == [
        f'52-["message-back",{PH0},{PH1}]',
        b"\x01\x02\x03",
        b"\x04\x05\x06",
    ]


def test_binary_ack_from_the_test_suite() -> None:
    decoder = json_parser.decoder()
    assert decoder.feed(f'52-789["message-with-ack",{PH0},{PH1}]') is None
    assert decoder.feed(bytearray(b"\x01\x02\x03")) is None
    packet = decoder.feed(memoryview(b"\x04\x05\x06"))
    assert packet == Packet(E, "/", ["message-with-ack", b"\x01\x02\x03", b"\x04\x05\x06"], 789)
    assert packet is not None
    assert all(type(item) is bytes for item in packet.data[1:])
    ack = Packet(A, "/", [b"\x01\x02\x03", b"\x04\x05\x06"], 789)
    assert json_parser.encode(ack) == [f"62-789[{PH0},{PH1}]", b"\x01\x02\x03", b"\x04\x05\x06"]


def test_protocol_document_binary_examples() -> None:
    assert json_parser.encode(Packet(E, "/", ["baz", b"\x01\x02\x03\x04"])) == [
        f'51-["baz",{PH0}]',
        b"\x01\x02\x03\x04",
    ]
    assert json_parser.encode(Packet(E, "/admin", ["baz", b"\x01\x02", b"\x03\x04"])) == [
        f'52-/admin,["baz",{PH0},{PH1}]',
        b"\x01\x02",
        b"\x03\x04",
    ]
    assert json_parser.encode(Packet(A, "/", ["bar", b"\x01\x02\x03\x04"], 15)) == [
        f'61-15["bar",{PH0}]',
        b"\x01\x02\x03\x04",
    ]


def test_nested_binary_is_extracted_in_order() -> None:
    data = ["up", {"a": [1, bytearray(b"A")], "b": {"c": memoryview(b"B")}}, (b"C", "x")]
    items = json_parser.encode(Packet(E, "/", data, 3))
    assert items == [
        '53-3["up",{"a":[1,'
        + PH0
        + '],"b":{"c":'
        + PH1
        + '}},[{"_placeholder":true,"num":2},"x"]]',
        b"A",
        b"B",
        b"C",
    ]
    assert all(type(item) is bytes for item in items[1:])
    decoder = json_parser.decoder()
    assert decoder.feed(items[0]) is None
    assert decoder.feed(items[1]) is None
    assert decoder.feed(items[2]) is None
    assert decoder.feed(items[3]) == Packet(
        E, "/", ["up", {"a": [1, b"A"], "b": {"c": b"B"}}, [b"C", "x"]], 3
    )
    assert data[1]["a"][1] == bytearray(b"A")  # the caller's data is left alone


def test_binary_type_follows_the_data() -> None:
    # BINARY_* without bytes goes out as plain EVENT/ACK; decoded binary packets are EVENT/ACK.
    assert json_parser.encode(Packet(PacketType.BINARY_EVENT, "/", ["x"])) == ['2["x"]']
    assert json_parser.encode(Packet(PacketType.BINARY_ACK, "/", [], 1)) == ["31[]"]
    assert json_parser.encode(Packet(PacketType.BINARY_EVENT, "/", ["x", b"1"]))[0] == (
        f'51-["x",{PH0}]'
    )
    decoder = json_parser.decoder()
    decoder.feed(f"61-4[{PH0}]")
    assert decoder.feed(b"z") == Packet(A, "/", [b"z"], 4)


def test_zero_attachments_completes_at_once() -> None:
    assert decode('50-["x",1]') == Packet(E, "/", ["x", 1])
    assert decode("60-/a,2[]") == Packet(A, "/a", [], 2)
    with pytest.raises(DecodeError):
        decode(f'50-["x",{PH0}]')


def test_leading_zeros_in_the_attachment_count() -> None:
    decoder = json_parser.decoder()
    assert decoder.feed(f'5001-["x",{PH0}]') is None
    assert decoder.feed(b"!") == Packet(E, "/", ["x", b"!"])


def test_max_attachments() -> None:
    wire = '5{n}-["x"' + "".join(f',{{"_placeholder":true,"num":{i}}}' for i in range(11)) + "]"
    decoder = json_parser.decoder()
    assert decoder.feed(wire.replace("{n}", "10")) is None
    with pytest.raises(DecodeError, match="too many attachments"):
        json_parser.decoder().feed(wire.replace("{n}", "11"))
    assert JsonDecoder(max_attachments=11).feed(wire.replace("{n}", "11")) is None
    assert JsonParser(max_attachments=11).decoder().feed(wire.replace("{n}", "11")) is None
    assert json_parser.decoder(max_attachments=11).feed(wire.replace("{n}", "11")) is None
    with pytest.raises(DecodeError, match="too many attachments"):
        JsonParser(max_attachments=2).decoder().feed(f'53-["x",{PH0}]')


def test_binary_data_when_not_reconstructing() -> None:
    with pytest.raises(DecodeError, match="binary data"):
        json_parser.decoder().feed(b"\x01")


def test_text_while_attachments_are_due() -> None:
    decoder = json_parser.decoder()
    decoder.feed(f'52-["x",{PH0},{PH1}]')
    decoder.feed(b"1")
    with pytest.raises(DecodeError, match="plaintext"):
        decoder.feed('2["y"]')
    # the decoder starts afresh afterwards
    assert decoder.feed('2["y"]') == Packet(E, "/", ["y"])


@pytest.mark.parametrize(
    "placeholder",
    [
        '{"_placeholder":true,"num":1}',  # out of range (one attachment)
        '{"_placeholder":true,"num":-1}',
        '{"_placeholder":true,"num":0.5}',
        '{"_placeholder":true,"num":"0"}',
        '{"_placeholder":true,"num":true}',
        '{"_placeholder":true,"num":null}',
        '{"_placeholder":true}',
    ],
)
def test_illegal_placeholders(placeholder: str) -> None:
    decoder = json_parser.decoder()
    assert decoder.feed(f'51-["x",{{"a":[{placeholder}]}}]') is None
    with pytest.raises(DecodeError, match="illegal attachments"):
        decoder.feed(b"\x00")
    assert not decoder.awaiting_attachments


def test_placeholder_lookalikes_stay_data() -> None:
    decoder = json_parser.decoder()
    decoder.feed(
        '51-["x",{"_placeholder":1,"num":0},{"_placeholder":"true","num":0},'
        '{"_placeholder":true,"num":0.0}]'
    )
    packet = decoder.feed(b"!")
    assert packet == Packet(
        E,
        "/",
        ["x", {"_placeholder": 1, "num": 0}, {"_placeholder": "true", "num": 0}, b"!"],
    )


def test_deep_binary_packet_is_rebuilt_without_recursion() -> None:
    depth = 1020  # past Python's recursion limit, within the JSON decoder's
    wire = "51-[" + '"x",' + "[" * depth + PH0 + "]" * depth + "]"
    decoder = json_parser.decoder()
    assert decoder.feed(wire) is None
    packet = decoder.feed(b"deep")
    assert packet is not None
    node = packet.data[1]
    for _ in range(depth - 1):
        node = node[0]
    assert node == [b"deep"]


def test_reset_forgets_a_partial_packet() -> None:
    decoder = json_parser.decoder()
    decoder.feed(f'51-["x",{PH0}]')
    decoder.reset()
    assert not decoder.awaiting_attachments
    with pytest.raises(DecodeError):
        decoder.feed(b"late")


def test_feed_fields_gives_the_same_packet_as_a_tuple() -> None:
    decoder = json_parser.decoder()
    assert decoder.feed_fields('2/chat,7["a",1]') == (E, "/chat", ["a", 1], 7)
    assert decoder.feed_fields(f"61-[{PH0}]") is None
    assert decoder.feed_fields(b"x") == (A, "/", [b"x"], None)
    with pytest.raises(DecodeError):
        decoder.feed_fields('2["connect"]')


def test_feed_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        json_parser.decoder().feed(None)  # type: ignore[arg-type]


# --- encoding errors -----------------------------------------------------------------------


def test_unserialisable_data_raises_type_error() -> None:
    with pytest.raises(TypeError):
        json_parser.encode(Packet(E, "/", ["x", object()]))
    with pytest.raises(TypeError):
        json_parser.encode(Packet(E, "/", ["x", {1: "non-str key"}]))
    with pytest.raises(TypeError):
        json_parser.encode(Packet(E, "/", ["x", 2**64]))
    with pytest.raises(TypeError):
        json_parser.encode(Packet(PacketType.CONNECT, "/", {"a": b"no binary in CONNECT"}))
    with pytest.raises(TypeError):  # binary and something unserialisable
        json_parser.encode(Packet(E, "/", ["x", b"1", object()]))
    with pytest.raises(TypeError):
        encode_event_text("/", ["x", object()])
    with pytest.raises(TypeError):
        encode_ack_text("/", [object()], 1)


def test_circular_and_too_deep_data_raise_type_error() -> None:
    loop: list[Any] = [b"x"]
    loop.append(loop)
    with pytest.raises(TypeError):
        json_parser.encode(Packet(E, "/", ["x", loop]))
    branching: list[Any] = []
    branching.extend([branching, branching, b"x"])
    with pytest.raises(TypeError):
        json_parser.encode(Packet(E, "/", ["x", branching]))
    deep: Any = b"x"
    for _ in range(300):
        deep = [deep]
    with pytest.raises(TypeError):
        json_parser.encode(Packet(E, "/", ["x", deep]))
    assert has_binary(loop) and has_binary(branching) and has_binary(deep)


@pytest.mark.parametrize("namespace", ["admin", "/a,b", ","])
def test_malformed_namespace_raises_value_error(namespace: str) -> None:
    with pytest.raises(ValueError):
        json_parser.encode(Packet(E, namespace, ["x"]))
    with pytest.raises(ValueError):
        encode_event_text(namespace, ["x"])


@pytest.mark.parametrize("ack_id", [-1, True, 1.0, "1"])
def test_malformed_ack_id_raises_value_error(ack_id: Any) -> None:
    with pytest.raises(ValueError):
        json_parser.encode(Packet(E, "/", ["x"], ack_id))
    with pytest.raises(ValueError):
        encode_ack_text("/", [], ack_id)


def test_empty_namespace_means_the_main_one() -> None:
    assert json_parser.encode(Packet(E, "", ["x"])) == ['2["x"]']


# --- hot path --------------------------------------------------------------------------------


def test_encode_event_text() -> None:
    assert encode_event_text("/", ["chat", "hi"]) == '42["chat","hi"]'
    assert encode_event_text("/chat", ["x"], 5) == '42/chat,5["x"]'
    assert encode_event_text("/", ["x"], 0) == '420["x"]'
    assert encode_event_text("/a", ["auth", {}]) == '42/a,["auth",{}]'
    assert encode_event_text("/", ["x", b"bin"]) is None
    assert encode_event_text("/", ["x", {"deep": [bytearray(b"")]}]) is None


def test_encode_ack_text() -> None:
    assert encode_ack_text("/", [1, "2", {"3": [False]}], 456) == '43456[1,"2",{"3":[false]}]'
    assert encode_ack_text("/admin", [], 13) == "43/admin,13[]"
    assert encode_ack_text("/", [b"x"], 1) is None


@pytest.mark.parametrize(
    "packet",
    [
        Packet(E, "/", ["chat", "hi"]),
        Packet(E, "/chat", ["x", {"a": [1, 2.5, None, True]}], 5),
        Packet(A, "/", [], 0),
        Packet(A, "/a/b", ["é", "\U0001f600"], 123456),
    ],
)
def test_hot_path_matches_the_encoder(packet: Packet) -> None:
    [text] = json_parser.encode(packet)
    fast = encode_event_text if packet.type is E else encode_ack_text
    assert fast(packet.namespace, packet.data, packet.id) == "4" + text  # type: ignore[operator]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (1, False),
        ("bytes", False),
        (1.5, False),
        (True, False),
        (b"", True),
        (bytearray(), True),
        (memoryview(b"x"), True),
        ([], False),
        ({}, False),
        (["a", 1, {"b": [None]}], False),
        (["a", 1, {"b": [None, b"x"]}], True),
        (("t", (b"x",)), True),
        ({"k": {"k": {"k": memoryview(b"")}}}, True),
        ({b"key": 1}, False),  # keys are not data
        (object(), False),
    ],
)
def test_has_binary(value: Any, expected: bool) -> None:
    assert has_binary(value) is expected


def test_json_nested_past_any_recursion_limit_decodes_as_javascript_does() -> None:
    depth = 100_000
    decoder = json_parser.decoder()
    packet = decoder.feed('2["deep",' + "[" * depth + "]" * depth + "]")
    assert packet is not None
    assert packet.data[0] == "deep"
    node, levels = packet.data[1], 1
    while node:
        node, levels = node[0], levels + 1
    assert levels == depth


def test_json_nested_deeper_than_orjson_encodes_is_still_encoded() -> None:
    data: list[object] = []
    for _ in range(1000):
        data = [data, {"k": "v"}]
    text = encode_event_text("/", ["deep", data])
    assert text is not None
    packet = json_parser.decoder().feed(text[1:])
    assert packet is not None and packet.type == PacketType.EVENT
    # Compared through the encoding: == on 2000 levels would exceed Python's recursion limit.
    assert encode_event_text("/", packet.data) == text
