"""RFC 6455 WebSocket framing, without I/O: bytes in, frames out, and back.

Server side only: frames we build are unmasked, frames we parse must be masked (a client that
sends an unmasked frame is failed with 1002, as RFC 6455 section 5.1 requires).

Design rules:

* :class:`FrameParser` takes whatever the socket delivered and returns every whole message it
  completes, in order. Fragmented messages are reassembled here, so callers only ever see
  whole text/binary messages and control frames.
* A protocol violation never raises: the parser records it in :attr:`FrameParser.error`
  (with the close code to send) after returning the messages that came before it, and ignores
  everything after. The caller delivers the messages, then fails the connection.
* Payloads are unmasked by the ``websockets`` package's C function (SIMD) where it is
  installed with its speedups, else with one big-integer XOR, which CPython does in C too but
  at several times the cost for a small message; a per-byte loop in Python would cost more
  than the rest of the framing together.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "NO_STATUS",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONTINUATION",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "FrameError",
    "FrameParser",
    "binary_frame",
    "build_frame",
    "close_frame",
    "parse_close",
    "pong_frame",
    "text_frame",
    "unmask",
]

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_DATA_OPCODES = frozenset((OP_CONTINUATION, OP_TEXT, OP_BINARY))
_CONTROL_OPCODES = frozenset((OP_CLOSE, OP_PING, OP_PONG))

# Close codes a peer may put on the wire (RFC 6455 section 7.4; 1012-1014 are IANA-registered
# since). 1005, 1006 and 1015 are reserved for reporting and must never be sent.
_VALID_CLOSE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012))
_VALID_CLOSE_CODES |= frozenset((1013, 1014))

#: A close frame without a status code is reported as this code (RFC 6455 section 7.1.5).
NO_STATUS = 1005

#: Room for a close reason: 125 bytes of control payload less the 2-byte code.
_MAX_REASON = 123


class FrameError:
    """A protocol violation found by :class:`FrameParser`: close the connection with ``code``.

    ``code`` is 1002 (protocol error), 1007 (invalid UTF-8) or 1009 (message too big);
    ``reason`` is a short text fit for the close frame and a log line.
    """

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason

    def __repr__(self) -> str:
        return f"FrameError({self.code}, {self.reason!r})"


def _header(first: int, length: int) -> bytes:
    if length < 126:
        return bytes((first, length))
    if length < 0x10000:
        return bytes((first, 126)) + length.to_bytes(2, "big")
    return bytes((first, 127)) + length.to_bytes(8, "big")


def build_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """Return one unmasked frame (server to client) carrying ``payload``.

    ``fin=False`` makes a non-final fragment; continue it with ``OP_CONTINUATION`` frames.
    """
    return _header((0x80 if fin else 0) | opcode, len(payload)) + payload


def text_frame(data: str) -> bytes:
    """Return a final text frame for ``data`` (encoded as UTF-8)."""
    payload = data.encode()
    return _header(0x81, len(payload)) + payload


def binary_frame(data: bytes) -> bytes:
    """Return a final binary frame for ``data``."""
    return _header(0x82, len(data)) + data


def pong_frame(payload: bytes) -> bytes:
    """Return a pong frame echoing a ping's ``payload``."""
    return _header(0x8A, len(payload)) + payload


def close_frame(code: int | None = 1000, reason: str = "") -> bytes:
    """Return a close frame with ``code`` and ``reason``.

    ``code=None`` sends an empty close payload (no status). A reason longer than the 123 bytes a
    control frame leaves for it is cut at a character boundary, so the frame stays valid.
    """
    if code is None:
        return b"\x88\x00"
    raw = reason.encode()
    if len(raw) > _MAX_REASON:
        raw = raw[:_MAX_REASON].decode(errors="ignore").encode()
    payload = code.to_bytes(2, "big") + raw
    return _header(0x88, len(payload)) + payload


def parse_close(payload: bytes) -> tuple[int, str]:
    """Return ``(code, reason)`` of a close frame's payload that :class:`FrameParser` accepted.

    An empty payload gives ``(1005, "")``: the peer sent no status code.
    """
    if not payload:
        return NO_STATUS, ""
    return int.from_bytes(payload[:2], "big"), payload[2:].decode()


def _unmask_int(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    # Little-endian on both sides keeps byte i of the payload paired with byte i % 4 of the
    # mask however long the payload is.
    repeated = (mask * ((n + 3) >> 2))[:n]
    value = int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")
    return value.to_bytes(n, "little")


_unmask: Callable[[bytes, bytes], bytes]
try:
    from websockets.speedups import apply_mask as _unmask
except ImportError:  # pragma: no cover - websockets without its C extension
    _unmask = _unmask_int


def unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` repeated (RFC 6455 section 5.3)."""
    return _unmask(payload, mask)


def _check_close_payload(payload: bytes) -> FrameError | None:
    if not payload:
        return None
    if len(payload) == 1:
        return FrameError(1002, "close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if code not in _VALID_CLOSE_CODES and not 3000 <= code <= 4999:
        return FrameError(1002, f"invalid close code {code}")
    try:
        payload[2:].decode()
    except UnicodeDecodeError:
        return FrameError(1007, "close reason is not valid UTF-8")
    return None


class FrameParser:
    """Incremental parser of client-to-server frames.

    Call :meth:`feed` with each chunk read from the socket. It returns a list of
    ``(opcode, payload)`` pairs, one per whole message or control frame, in order:

    * ``(OP_TEXT, str)`` and ``(OP_BINARY, bytes)``: a whole message, fragments joined;
    * ``(OP_PING, bytes)``, ``(OP_PONG, bytes)``: control frames (answer pings with
      :func:`pong_frame`);
    * ``(OP_CLOSE, bytes)``: the close frame's payload, already validated (read it with
      :func:`parse_close`); nothing after it is parsed.

    When the peer breaks the protocol, :attr:`error` is set after the messages that preceded the
    violation are returned; fail the connection with ``error.code`` and stop feeding.
    ``max_message_size`` bounds a message's size (all fragments together), checked from the
    frame headers before the payload is buffered.
    """

    __slots__ = (
        "_buf",
        "_chunks",
        "_chunks_len",
        "_frag_len",
        "_frag_opcode",
        "_fragments",
        "_need",
        "done",
        "error",
        "max_message_size",
    )

    def __init__(self, max_message_size: int = 1_000_000) -> None:
        self.max_message_size = max_message_size
        #: The violation that stopped parsing, if any.
        self.error: FrameError | None = None
        #: True once a close frame was parsed (or an error found): later bytes are ignored.
        self.done = False
        self._buf = b""
        # While waiting for a long frame, chunks are collected here and joined once the frame
        # is complete, so a big frame arriving in many reads costs one copy, not one per read.
        self._chunks: list[bytes] | None = None
        self._chunks_len = 0
        self._need = 0
        self._frag_opcode = 0
        self._fragments: list[bytes] | None = None
        self._frag_len = 0

    def feed(self, data: bytes) -> list[tuple[int, str | bytes]]:
        """Parse ``data`` (appended to what is buffered); return the messages it completed."""
        if self.done:
            return []
        if self._chunks is not None:
            self._chunks.append(data)
            self._chunks_len += len(data)
            if self._chunks_len < self._need:
                return []
            data = b"".join(self._chunks)
            self._chunks = None
        elif self._buf:
            data = self._buf + data
        out: list[tuple[int, str | bytes]] = []
        pos = 0
        end = len(data)
        max_size = self.max_message_size
        while end - pos >= 2:
            b0 = data[pos]
            b1 = data[pos + 1]
            length = b1 & 0x7F
            if length < 126:
                hlen = 6
            elif length == 126:
                hlen = 8
                if end - pos < 8:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            else:
                hlen = 14
                if end - pos < 14:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            opcode = b0 & 0x0F
            # The common frame (a whole, masked text or binary message within the limit) takes
            # no call; anything else goes through the full check.
            if (
                (b0 != 0x81 and b0 != 0x82)
                or not b1 & 0x80
                or length > max_size
                or self._fragments is not None
            ):
                error = self._check_header(b0, b1, opcode, length)
                if error is not None:
                    return self._fail(out, error)
            start = pos + hlen
            frame_end = start + length
            if frame_end > end:
                # Wait for the rest of this frame.
                rest = data[pos:]
                if frame_end - pos > 65536:
                    self._chunks = [rest]
                    self._chunks_len = len(rest)
                    self._need = frame_end - pos
                    self._buf = b""
                else:
                    self._buf = rest
                return out
            payload = _unmask(data[start:frame_end], data[start - 4 : start]) if length else b""
            pos = frame_end
            if b0 == 0x81:
                try:
                    out.append((OP_TEXT, payload.decode()))
                except UnicodeDecodeError:
                    return self._fail(out, FrameError(1007, "text message is not valid UTF-8"))
                continue
            if b0 == 0x82:
                out.append((OP_BINARY, payload))
                continue
            if opcode >= OP_CLOSE:
                if opcode == OP_CLOSE:
                    error = _check_close_payload(payload)
                    if error is not None:
                        return self._fail(out, error)
                    out.append((OP_CLOSE, payload))
                    self.done = True
                    self._buf = b""
                    return out
                out.append((opcode, payload))
                continue
            # A fragment: collect it, and deliver the message on the final one.
            if opcode != OP_CONTINUATION:
                self._frag_opcode = opcode
                self._fragments = [payload]
                self._frag_len = length
                continue
            assert self._fragments is not None
            self._fragments.append(payload)
            self._frag_len += length
            if not b0 & 0x80:
                continue
            message = b"".join(self._fragments)
            self._fragments = None
            self._frag_len = 0
            if self._frag_opcode == OP_TEXT:
                try:
                    out.append((OP_TEXT, message.decode()))
                except UnicodeDecodeError:
                    return self._fail(out, FrameError(1007, "text message is not valid UTF-8"))
            else:
                out.append((OP_BINARY, message))
        self._buf = data[pos:] if pos < end else b""
        return out

    def _check_header(self, b0: int, b1: int, opcode: int, length: int) -> FrameError | None:
        if b0 & 0x70:
            return FrameError(1002, "reserved bits set")
        if not b1 & 0x80:
            return FrameError(1002, "client frame not masked")
        if opcode in _CONTROL_OPCODES:
            if length > 125:
                return FrameError(1002, "control frame payload over 125 bytes")
            if not b0 & 0x80:
                return FrameError(1002, "fragmented control frame")
            return None
        if opcode not in _DATA_OPCODES:
            return FrameError(1002, f"unknown opcode {opcode}")
        if opcode == OP_CONTINUATION:
            if self._fragments is None:
                return FrameError(1002, "continuation frame without a message to continue")
        elif self._fragments is not None:
            return FrameError(1002, "new data frame inside a fragmented message")
        if length >> 63:
            return FrameError(1002, "frame length has its most significant bit set")
        if self._frag_len + length > self.max_message_size:
            return FrameError(1009, "message too big")
        return None

    def _fail(
        self, out: list[tuple[int, str | bytes]], error: FrameError
    ) -> list[tuple[int, str | bytes]]:
        self.error = error
        self.done = True
        self._buf = b""
        self._fragments = None
        return out
