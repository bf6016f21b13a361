"""Fuzzing the WebSocket frame parser: whatever bytes arrive, in whatever chunks, it returns
messages or records an error with a close code; it never raises and never hangs.

(The Engine.IO and Socket.IO decoders are fuzzed in tests/protocol/test_fuzz.py; here they
are reached through the running server, in test_http.py and test_websocket.py.)
"""

from __future__ import annotations

import os
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turbosio.server.frames import FrameError, FrameParser

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """One client frame, often valid, sometimes subtly not (flags, opcode, mask, length)."""
    fin = draw(st.booleans())
    rsv = draw(st.sampled_from([0, 0, 0, 0x40, 0x10]))
    opcode = draw(st.sampled_from([0, 1, 2, 8, 9, 10, 3, 11, 15]))
    masked = draw(st.sampled_from([True, True, True, False]))
    payload = draw(st.binary(max_size=300))
    if opcode == 8 and payload and draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1005, 1006, 999, 4000, 5000, 1015]))
        payload = struct.pack("!H", code) + payload[:50]
    n = len(payload)
    form = draw(st.sampled_from(["short", "16", "64", "lie"]))
    if form == "lie":  # the header claims another length than what follows
        n = draw(st.integers(0, 2**63 - 1))
        form = "64"
    if form == "short" and n < 126:
        length = bytes((0x80 * masked | n,))
    elif form == "16" or (form == "short" and n < 65536):
        length = bytes((0x80 * masked | 126,)) + struct.pack("!H", n % 65536)
    else:
        length = bytes((0x80 * masked | 127,)) + struct.pack("!Q", n)
    mask = os.urandom(4) if masked else b""
    if masked:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 * fin | rsv | opcode,)) + length + mask + payload


@FUZZ
@given(
    st.lists(frames() | st.binary(max_size=40), max_size=8),
    st.lists(st.integers(1, 64), min_size=1, max_size=8),
    st.sampled_from([16, 1024, 1 << 20]),
)
def test_frame_parser_never_raises(parts: list[bytes], cuts: list[int], limit: int) -> None:
    data = b"".join(parts)
    parser = FrameParser(limit)
    position = 0
    sizes = iter(cuts * (len(data) // max(1, min(cuts)) + 1))
    while position < len(data):
        size = next(sizes)
        chunk = data[position : position + size]
        position += size
        for opcode, payload in parser.feed(chunk):
            assert opcode in (1, 2, 8, 9, 10)
            assert isinstance(payload, str if opcode == 1 else bytes)
            if opcode in (1, 2):
                assert len(payload) <= limit * 4  # characters, at most 4 bytes each
        if parser.error is not None:
            assert isinstance(parser.error, FrameError)
            assert 1000 <= parser.error.code < 5000
            assert parser.feed(b"\x81\x80" + b"\x00" * 4) == []  # nothing after the error
            break
