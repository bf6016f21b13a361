"""MessagePack as Node's cluster packages write it (notepack.io 3.0).

@socket.io/redis-adapter, @socket.io/redis-emitter and the sharded adapter encode their
binary messages with notepack.io; this module writes the same bytes for the same values and
reads what notepack writes. It needs the optional ``msgpack`` package (``pip install
turbosio[redis]``), loaded on first use.

How values map (notepack 3.0.1, the version those packages depend on):

==========================  =====================================================
Python                      on the wire
==========================  =====================================================
``None``                    nil (JavaScript ``null``; notepack writes ``undefined``
                            as nil too, and leaves out object keys whose value is
                            ``undefined``)
``bool``, ``int``, ``str``  the smallest msgpack form, as notepack chooses it
``float``                   float 64 (notepack writes integral numbers as ints:
                            JavaScript has no separate float type)
``bytes``, ``bytearray``    bin (a Node ``Buffer``; notepack also writes typed
                            arrays and ``ArrayBuffer`` as bin)
``datetime``                timestamp extension -1 (a JavaScript ``Date``); a
                            naive datetime is taken as UTC
``list``, ``tuple``         array
``dict``                    map, keys in insertion order (Node keeps property order)
anything else               what orjson makes of it (dataclasses, UUIDs, enums...),
                            as notepack uses an object's ``toJSON``
==========================  =====================================================

Reading, older notepack forms are understood as well: fixext 1 type 0 (``d4 00 00``, the
old ``undefined``) is ``None``, fixext 8 type 0 (the old ``Date``) a UTC ``datetime``, and ext
type 0 of other sizes (the old ``ArrayBuffer``) ``bytes``. The msgpack library does not say
which ext form it read, so a one-byte or eight-byte ``ArrayBuffer`` in the old ext 8 form is
told apart by looking for its encoding in the message.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import orjson

__all__ = ["decode", "encode", "has_binary"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_OLD_DATE = struct.Struct(">iI")  # old notepack Date: signed high, unsigned low 32 bits of ms

_msgpack: Any = None


def _load() -> Any:
    global _msgpack
    if _msgpack is None:
        try:
            import msgpack  # type: ignore[import-untyped,unused-ignore]
        except ImportError as exc:  # pragma: no cover - msgpack is in the dev extra
            raise ImportError(
                "the Redis adapter and emitter need the msgpack package: "
                "pip install turbosio[redis]"
            ) from exc
        _msgpack = msgpack
    return _msgpack


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        # Only naive datetimes get here (msgpack packs aware ones itself): take them as UTC.
        return _msgpack.Timestamp.from_datetime(obj.replace(tzinfo=timezone.utc))
    if isinstance(obj, memoryview):
        return obj.tobytes()
    try:
        return orjson.loads(orjson.dumps(obj))
    except TypeError:
        raise TypeError(f"cannot encode {type(obj).__name__!r} object for the cluster") from None


def encode(obj: Any) -> bytes:
    """``obj`` as notepack.io 3.0 would encode the same JavaScript value.

    Raises ``TypeError`` for a value neither msgpack nor orjson can serialise.
    """
    msgpack = _load()
    try:
        data = msgpack.packb(obj, use_bin_type=True, datetime=True, default=_default)
    except (ValueError, OverflowError) as exc:
        raise TypeError(f"cannot encode for the cluster: {exc}") from None
    return cast(bytes, data)


def _ext_hook(raw: bytes) -> Any:
    ext_type = _msgpack.ExtType

    def hook(code: int, data: bytes) -> Any:
        if code != 0:
            return ext_type(code, data)
        size = len(data)
        # fixext 1 "d4 00 00" is the old undefined; ext 8 "c7 01 00 00" a one-byte ArrayBuffer.
        if size == 1 and data == b"\x00" and b"\xc7\x01\x00\x00" not in raw:
            return None
        # fixext 8 "d7 00 ..." is the old Date; ext 8 "c7 08 00 ..." an 8-byte ArrayBuffer.
        if size == 8 and b"\xc7\x08\x00" + data not in raw:
            high, low = _OLD_DATE.unpack(data)
            try:
                return _EPOCH + timedelta(milliseconds=high * 2**32 + low)
            except OverflowError:
                return data
        return data

    return hook


def decode(data: bytes) -> Any:
    """Decode one notepack message.

    Raises ``ValueError`` for bytes that are not one whole msgpack value.
    """
    msgpack = _load()
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            timestamp=3,
            strict_map_key=False,
            unicode_errors="replace",
            ext_hook=_ext_hook(data),
        )
    except ValueError:
        raise
    except Exception as exc:  # msgpack raises several types for malformed input
        raise ValueError(f"invalid msgpack message: {exc}") from None


def has_binary(obj: Any) -> bool:
    """True if ``obj`` holds ``bytes`` at any depth (in lists, tuples and dict values)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is bytes or kind is bytearray or kind is memoryview:
            return True
        if kind is list or kind is tuple:
            stack.extend(item)
        elif kind is dict:
            stack.extend(item.values())
    return False
