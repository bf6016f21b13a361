"""notepack: the bytes Node's cluster packages write, written and read the same way."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from turbosio.adapters import notepack

from .conftest import NodeProcess

UTC = timezone.utc

#: The same values as SAMPLES in tests/js/cluster-node.mjs, as Python spells them.
SAMPLES = {
    "broadcast": [
        "abcdef",
        {"type": 2, "data": ["ev", 1, "two", b"\x01\x02\x03", {"a": [True, None]}], "nsp": "/"},
        {"rooms": ["room1"], "except": ["x"], "flags": {}},
    ],
    "numbers": [
        0,
        127,
        128,
        255,
        256,
        65535,
        65536,
        2**32 - 1,
        2**32,
        2**40,
        -1,
        -32,
        -33,
        -128,
        -129,
        -32768,
        -32769,
        -(2**31),
        -(2**31) - 1,
        -(2**40),
        1.5,
        -0.25,
        1e-300,
    ],
    "strings": [
        "",
        "a",
        "x" * 31,
        "x" * 32,
        "x" * 255,
        "x" * 256,
        "y" * 65536,
        "é",
        "日本語",
        "emoji 😀",
    ],
    "containers": [
        [],
        [1, [2, [3]]],
        [0] * 16,
        {},
        {"b": 1, "a": 2},
        {f"k{i}": i for i in range(16)},
    ],
    "binary": [b"", b"\x00\xff", b"\x07" * 256, b"\x09" * 65536],
    # notepack writes undefined as nil and leaves out keys whose value is undefined.
    "special": [None, True, False, {"keep": None}, [None]],
    "date": [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime.fromtimestamp(1700000000, UTC),
        datetime.fromtimestamp(1700000000, UTC) + timedelta(milliseconds=123),
    ],
}


def test_round_trip_of_every_sample() -> None:
    for values in SAMPLES.values():
        for value in values:
            assert notepack.decode(notepack.encode(value)) == value


def test_layouts_that_matter() -> None:
    assert notepack.encode(b"\x01\x02") == b"\xc4\x02\x01\x02"  # Buffer: bin, not str
    assert notepack.encode("ab") == b"\xa2ab"
    assert notepack.encode(None) == b"\xc0"
    # Map keys stay in insertion order, as Node keeps property order.
    assert notepack.encode({"b": 1, "a": 2}) == b"\x82\xa1b\x01\xa1a\x02"
    assert notepack.encode(datetime(1970, 1, 1, 0, 0, 1)) == b"\xd6\xff\x00\x00\x00\x01"


def test_older_notepack_forms_are_read() -> None:
    assert notepack.decode(b"\x91\xd4\x00\x00") == [None]  # the old undefined
    old_date = b"\xd7\x00" + (1700000000123).to_bytes(8, "big")
    assert notepack.decode(old_date) == datetime.fromtimestamp(1700000000.123, UTC)
    assert notepack.decode(b"\xc7\x03\x00abc") == b"abc"  # the old ArrayBuffer
    assert notepack.decode(b"\xc7\x01\x00\x00") == b"\x00"  # not mistaken for undefined


def test_values_orjson_knows_travel_as_json_would() -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    class Color(enum.Enum):
        RED = "red"

    ident = uuid.UUID(int=1)
    value = [Point(1, 2), Color.RED, ident, (1, 2), bytearray(b"z")]
    assert notepack.decode(notepack.encode(value)) == [
        {"x": 1, "y": 2},
        "red",
        str(ident),
        [1, 2],
        b"z",
    ]


def test_unencodable_values_raise_type_error() -> None:
    with pytest.raises(TypeError):
        notepack.encode(object())
    with pytest.raises(TypeError):
        notepack.encode(2**70)


def test_malformed_input_raises_value_error() -> None:
    for bad in (b"", b"\xc1", b"\x92\x01", b"\x91\x01\x02"):
        with pytest.raises(ValueError):
            notepack.decode(bad)


def test_has_binary() -> None:
    assert notepack.has_binary(["a", {"b": [1, b"x"]}])
    assert not notepack.has_binary(["a", {"b": [1, "x"]}, None])


async def test_same_bytes_as_notepack_in_node(node: str, js_dir: Path) -> None:
    process = NodeProcess([node, "cluster-node.mjs"], js_dir)
    try:
        expected = await process.call("notepack")
        assert set(expected) == set(SAMPLES)
        for name, values in SAMPLES.items():
            mine = [notepack.encode(value).hex() for value in values]
            assert mine == expected[name], name
        # And what notepack reads back from ours.
        ours = [
            notepack.encode([b"\x01", {"d": datetime.fromtimestamp(1.5, UTC)}, 2**40, -0.5]).hex()
        ]
        (decoded,) = await process.call("decode", hex=ours)
        assert decoded == [{"$bin": "01"}, {"d": {}}, 2**40, -0.5]
        (date,) = await process.call(
            "decode", hex=[notepack.encode(datetime.fromtimestamp(1.5, UTC)).hex()]
        )
        assert date == {"$date": 1500}
    finally:
        process.stop()
