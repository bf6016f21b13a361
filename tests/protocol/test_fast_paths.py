"""The decoder's fast path for the common packet shapes gives what the general parser gives."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from turbosio.protocol import DecodeError
from turbosio.protocol.socketio import JsonDecoder, PacketType, _parse

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)


def general(text: str) -> Any:
    try:
        ptype, namespace, data, ack_id, _ = _parse(text, 10)
    except DecodeError:
        return "error"
    return ptype, namespace, data, ack_id


def fast(text: str) -> Any:
    try:
        return JsonDecoder().feed_fields(text)
    except DecodeError:
        return "error"


@given(
    st.sampled_from("23"),
    st.sampled_from(["", "0", "7", "007", "123456789012345", "1234567890123456", " ", "1 "]),
    st.lists(json_values, max_size=3),
    st.sampled_from(["echo", "connect", "disconnect", "newListener", ""]),
)
def test_same_as_the_general_parser(kind: str, digits: str, args: list[Any], event: str) -> None:
    data = [event, *args] if kind == "2" and event else args
    text = kind + digits + orjson.dumps(data).decode()
    assert fast(text) == general(text)


@pytest.mark.parametrize(
    "text",
    [
        '2["x"]',
        '21["x",1]',
        "3[]",
        "35[1,2]",
        '2[1,"numeric event name"]',
        '2["connect"]',
        "2[]",
        '2/chat,5["x"]',
        '2 ["x"]',
        "21[1e999]",
        '2["\\ud83d"]',
        "29007199254740993[]",
        '2["x"] junk',
        "2[",
    ],
)
def test_edge_cases(text: str) -> None:
    assert fast(text) == general(text)


def test_main_namespace_event_with_ack() -> None:
    assert fast('212["chat",{"a":1}]') == (PacketType.EVENT, "/", ["chat", {"a": 1}], 12)
