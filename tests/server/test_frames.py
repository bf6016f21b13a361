"""RFC 6455 framing: the pure functions and the incremental parser, on hand-built frames."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from server_helpers import client_frame

from turbosio.server import frames
from turbosio.server.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    binary_frame,
    build_frame,
    close_frame,
    parse_close,
    pong_frame,
    text_frame,
    unmask,
)


def parse_all(data: bytes, max_size: int = 1_000_000) -> tuple[list[tuple[int, object]], object]:
    parser = FrameParser(max_size)
    events = parser.feed(data)
    return list(events), parser.error


# Building frames


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, b"\x82\x00"),
        (125, b"\x82\x7d"),
        (126, b"\x82\x7e\x00\x7e"),
        (65535, b"\x82\x7e\xff\xff"),
        (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_build_frame_uses_the_shortest_length_form(length: int, header: bytes) -> None:
    payload = b"x" * length
    assert build_frame(OP_BINARY, payload) == header + payload
    assert binary_frame(payload) == header + payload


def test_text_frame_is_utf8_and_unmasked() -> None:
    assert text_frame("é") == b"\x81\x02\xc3\xa9"


def test_non_final_fragment_has_fin_clear() -> None:
    assert build_frame(OP_TEXT, b"ab", fin=False) == b"\x01\x02ab"
    assert build_frame(OP_CONTINUATION, b"c") == b"\x80\x01c"


def test_pong_echoes_payload() -> None:
    assert pong_frame(b"hi") == b"\x8a\x02hi"


def test_close_frame_carries_code_and_reason() -> None:
    assert close_frame(1000, "") == b"\x88\x02\x03\xe8"
    assert close_frame(4000, "bye") == b"\x88\x05\x0f\xa0bye"
    assert close_frame(None) == b"\x88\x00"


def test_close_frame_cuts_a_long_reason_at_a_character_boundary() -> None:
    frame = close_frame(1000, "é" * 100)  # 200 bytes of UTF-8
    assert len(frame) <= 2 + 125
    code, reason = parse_close(frame[2:])
    assert code == 1000
    assert reason == "é" * 61  # 122 bytes: the 123rd would split a character


def test_parse_close_without_payload_is_1005() -> None:
    assert parse_close(b"") == (1005, "")
    assert parse_close(b"\x03\xe9away") == (1001, "away")


@pytest.mark.parametrize("implementation", ["installed", "fallback"])
@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 7, 8, 13, 1000, 70000])
def test_unmask_matches_the_rfc_definition(length: int, implementation: str) -> None:
    """Both ways of unmasking: the one in use (websockets' C function) and the big-integer
    XOR used without it."""
    function = unmask if implementation == "installed" else frames._unmask_int
    payload = bytes((i * 7 + 3) % 256 for i in range(length))
    mask = b"\x9f\x01\xe2\x44"
    expected = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert function(payload, mask) == expected
    assert function(expected, mask) == payload


def test_unmask_is_the_c_function_where_websockets_has_it() -> None:
    speedups = pytest.importorskip("websockets.speedups")
    assert frames._unmask is speedups.apply_mask


# Parsing: what goes through


def test_parses_text_and_binary_messages_in_one_chunk() -> None:
    data = client_frame(OP_TEXT, "héllo".encode()) + client_frame(OP_BINARY, b"\x00\xff")
    events, error = parse_all(data)
    assert events == [(OP_TEXT, "héllo"), (OP_BINARY, b"\x00\xff")]
    assert error is None


def test_parses_fed_one_byte_at_a_time() -> None:
    data = client_frame(OP_TEXT, b"x" * 300) + client_frame(OP_BINARY, b"y" * 70000)
    parser = FrameParser()
    events = []
    for i in range(len(data)):
        events.extend(parser.feed(data[i : i + 1]))
    assert events == [(OP_TEXT, "x" * 300), (OP_BINARY, b"y" * 70000)]
    assert parser.error is None


def test_parses_a_big_frame_arriving_in_chunks() -> None:
    payload = bytes(range(256)) * 4000  # 1 MB
    data = client_frame(OP_BINARY, payload) + client_frame(OP_TEXT, b"after")
    parser = FrameParser(2_000_000)
    events = []
    for i in range(0, len(data), 65536):
        events.extend(parser.feed(data[i : i + 65536]))
    assert events == [(OP_BINARY, payload), (OP_TEXT, "after")]


def test_reassembles_fragments_with_a_control_frame_between() -> None:
    text = "héllo wörld".encode()
    data = (
        client_frame(OP_TEXT, text[:2], fin=False)  # splits "é" across fragments
        + client_frame(OP_CONTINUATION, text[2:6], fin=False)
        + client_frame(OP_PING, b"p")
        + client_frame(OP_CONTINUATION, text[6:])
    )
    events, error = parse_all(data)
    assert events == [(OP_PING, b"p"), (OP_TEXT, "héllo wörld")]
    assert error is None


def test_reassembles_binary_fragments_and_empty_fragments() -> None:
    data = (
        client_frame(OP_BINARY, b"", fin=False)
        + client_frame(OP_CONTINUATION, b"ab", fin=False)
        + client_frame(OP_CONTINUATION, b"")
    )
    assert parse_all(data) == ([(OP_BINARY, b"ab")], None)


def test_ping_pong_and_close_are_reported() -> None:
    data = (
        client_frame(OP_PING, b"hi")
        + client_frame(OP_PONG, b"")
        + client_frame(OP_CLOSE, b"\x03\xe8ok")
    )
    assert parse_all(data) == ([(OP_PING, b"hi"), (OP_PONG, b""), (OP_CLOSE, b"\x03\xe8ok")], None)


def test_nothing_is_parsed_after_a_close_frame() -> None:
    parser = FrameParser()
    events = parser.feed(client_frame(OP_CLOSE, b"") + client_frame(OP_TEXT, b"late"))
    assert events == [(OP_CLOSE, b"")]
    assert parser.done
    assert parser.feed(client_frame(OP_TEXT, b"later")) == []
    assert parser.error is None


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999])
def test_valid_close_codes_are_accepted(code: int) -> None:
    events, error = parse_all(client_frame(OP_CLOSE, code.to_bytes(2, "big") + b"why"))
    assert error is None
    assert parse_close(events[0][1]) == (code, "why")  # type: ignore[arg-type]


def test_message_exactly_at_the_size_limit_passes() -> None:
    events, error = parse_all(client_frame(OP_BINARY, b"x" * 100), max_size=100)
    assert (events, error) == ([(OP_BINARY, b"x" * 100)], None)


@given(
    messages=st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=300)), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=6),
    fragment=st.booleans(),
)
def test_any_split_of_the_stream_gives_the_same_messages(
    messages: list[str | bytes], cuts: list[int], fragment: bool
) -> None:
    data = b""
    for message in messages:
        opcode = OP_TEXT if isinstance(message, str) else OP_BINARY
        raw = message.encode() if isinstance(message, str) else message
        if fragment and len(raw) > 1:
            half = len(raw) // 2
            data += client_frame(opcode, raw[:half], fin=False)
            data += client_frame(OP_CONTINUATION, raw[half:])
        else:
            data += client_frame(opcode, raw)
    points = sorted({c % (len(data) + 1) for c in cuts})
    parser = FrameParser()
    events = []
    start = 0
    for point in [*points, len(data)]:
        events.extend(parser.feed(data[start:point]))
        start = point
    expected = [(OP_TEXT if isinstance(m, str) else OP_BINARY, m) for m in messages]
    assert events == expected
    assert parser.error is None


# Parsing: what fails, and with which close code


def _error(data: bytes, max_size: int = 1_000_000) -> tuple[int, list[tuple[int, object]]]:
    events, error = parse_all(data, max_size)
    assert error is not None, "expected a protocol error"
    return error.code, events  # type: ignore[attr-defined]


def test_unmasked_client_frame_is_1002() -> None:
    assert _error(client_frame(OP_TEXT, b"hi", masked=False))[0] == 1002


@pytest.mark.parametrize("rsv", [1, 2, 4])
def test_reserved_bits_are_1002(rsv: int) -> None:
    assert _error(client_frame(OP_TEXT, b"hi", rsv=rsv))[0] == 1002


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcodes_are_1002(opcode: int) -> None:
    assert _error(client_frame(opcode, b""))[0] == 1002


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
def test_control_frame_over_125_bytes_is_1002(opcode: int) -> None:
    payload = b"\x03\xe8" + b"x" * 124
    assert _error(client_frame(opcode, payload))[0] == 1002


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
def test_fragmented_control_frame_is_1002(opcode: int) -> None:
    assert _error(client_frame(opcode, b"", fin=False))[0] == 1002


def test_continuation_without_a_message_is_1002() -> None:
    assert _error(client_frame(OP_CONTINUATION, b"x"))[0] == 1002


def test_new_data_frame_inside_a_fragmented_message_is_1002() -> None:
    data = client_frame(OP_TEXT, b"a", fin=False) + client_frame(OP_BINARY, b"b")
    assert _error(data)[0] == 1002


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
def test_invalid_close_codes_are_1002(code: int) -> None:
    assert _error(client_frame(OP_CLOSE, code.to_bytes(2, "big")))[0] == 1002


def test_one_byte_close_payload_is_1002() -> None:
    assert _error(client_frame(OP_CLOSE, b"\x03"))[0] == 1002


def test_close_reason_not_utf8_is_1007() -> None:
    assert _error(client_frame(OP_CLOSE, b"\x03\xe8\xff\xfe"))[0] == 1007


def test_text_not_utf8_is_1007() -> None:
    assert _error(client_frame(OP_TEXT, b"ok\xc3"))[0] == 1007


def test_fragmented_text_not_utf8_is_1007() -> None:
    data = client_frame(OP_TEXT, b"\xc3", fin=False) + client_frame(OP_CONTINUATION, b"(")
    assert _error(data)[0] == 1007


def test_message_over_the_limit_is_1009_before_its_payload_arrives() -> None:
    frame = client_frame(OP_BINARY, b"x" * 101)
    assert _error(frame[:8], max_size=100)[0] == 1009  # the header alone decides


def test_fragments_over_the_limit_together_are_1009() -> None:
    data = client_frame(OP_TEXT, b"x" * 60, fin=False) + client_frame(OP_CONTINUATION, b"y" * 41)
    assert _error(data, max_size=100)[0] == 1009


def test_length_with_most_significant_bit_is_1002() -> None:
    data = b"\x82\xff" + (1 << 63).to_bytes(8, "big") + b"mask"
    assert _error(data)[0] == 1002


def test_messages_before_the_error_are_returned_and_the_rest_ignored() -> None:
    parser = FrameParser()
    data = client_frame(OP_TEXT, b"one") + client_frame(OP_TEXT, b"two", masked=False)
    assert parser.feed(data) == [(OP_TEXT, "one")]
    assert parser.error is not None
    assert parser.error.code == 1002
    assert parser.feed(client_frame(OP_TEXT, b"three")) == []
