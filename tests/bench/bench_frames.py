"""Micro-benchmarks of WebSocket framing (pytest-benchmark; ``make bench`` runs them)."""

from __future__ import annotations

import os
from typing import Any

from turbosio.server.frames import OP_TEXT, FrameParser, text_frame

MESSAGE = '421["echo",{"user":"bench","seq":12345,"text":"' + "a" * 60 + '"}]'


def masked(text: str) -> bytes:
    """A client frame (masked) carrying ``text``."""
    payload = text.encode()
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    head = bytes((0x81, 0x80 | n)) if n < 126 else bytes((0x81, 0xFE)) + n.to_bytes(2, "big")
    return head + mask + body


def test_parse_one_frame(benchmark: Any) -> None:
    """One read carrying one small text frame (echo with 1 in flight)."""
    parser = FrameParser()
    data = masked(MESSAGE)
    out = benchmark(parser.feed, data)
    assert out == [(OP_TEXT, MESSAGE)]


def test_parse_sixteen_frames(benchmark: Any) -> None:
    """One read carrying 16 frames (16 in flight)."""
    parser = FrameParser()
    data = masked(MESSAGE) * 16
    out = benchmark(parser.feed, data)
    assert len(out) == 16


def test_parse_large_frame(benchmark: Any) -> None:
    """One 60 kB text frame (unmasking dominates)."""
    parser = FrameParser(max_message_size=1 << 20)
    text = "x" * 60000
    data = masked(text)
    out = benchmark(parser.feed, data)
    assert out[0][1] == text


def test_build_text_frame(benchmark: Any) -> None:
    """Framing one outgoing text message."""
    frame = benchmark(text_frame, MESSAGE)
    assert frame[0] == 0x81 and frame.endswith(MESSAGE.encode())
