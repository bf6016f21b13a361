"""Header and query decoding shared by the embedded server and the ASGI app."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from turbosio.engineio.decoding import decode_headers, parse_query


@pytest.mark.parametrize(
    "qs",
    [
        "",
        "EIO=4&transport=polling&t=OxYz",
        "EIO=4&transport=websocket&sid=abc_DEF-123",
        "a=1&a=2&b=",
        "flag&&x=1",
        "name=J%C3%BCrgen&sp=a+b",
        "k=%zz&=v",
    ],
)
def test_parse_query_gives_the_first_value_as_parse_qsl(qs: str) -> None:
    expected: dict[str, str] = {}
    for name, value in parse_qsl(qs, keep_blank_values=True):
        expected.setdefault(name, value)
    assert parse_query(qs) == expected


def test_headers_are_lower_case_and_repeats_joined_as_node_joins_them() -> None:
    headers = decode_headers(
        [
            (b"Host", b"example.test"),
            (b"X-Two", b"a"),
            (b"x-two", b"b"),
            (b"Cookie", b"a=1"),
            (b"cookie", b"b=2"),
            (b"X-Latin", "caf\xe9".encode("latin-1")),
        ]
    )
    assert headers == {
        "host": "example.test",
        "x-two": "a, b",
        "cookie": "a=1; b=2",
        "x-latin": "caf\xe9",
    }


def test_recurring_values_are_shared_and_per_client_ones_are_not() -> None:
    first = decode_headers([(b"User-Agent", b"Browser/2.0"), (b"Sec-WebSocket-Key", b"k1==")])
    second = decode_headers([(b"user-agent", b"Browser/2.0"), (b"sec-websocket-key", b"k1==")])
    assert first == second
    assert first["user-agent"] is second["user-agent"]
    assert first["sec-websocket-key"] is not second["sec-websocket-key"]
