"""Socket.IO v5 packets, and the JSON parser that puts them on the wire.

Pure codec: no I/O, no clock. Every Socket.IO packet travels as the data of an Engine.IO
MESSAGE packet; this module encodes and decodes that data (the hot-path helpers
:func:`encode_event_text` and :func:`encode_ack_text` include the Engine.IO ``"4"`` too).

JSON wire form (socket.io-parser 4.x)::

    <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]

``42["chat","hi"]`` is an EVENT on ``/`` (after the Engine.IO ``4``); ``2/admin,12["x"]`` an
EVENT on ``/admin`` asking for ACK 12; ``51-["up",{"_placeholder":true,"num":0}]`` a
BINARY_EVENT whose one attachment follows as a binary Engine.IO message.

Design rules:

* Decoding validates exactly what Node's socket.io-parser validates (and raises
  :class:`~turbosio.protocol.DecodeError` where it throws), with deliberate tightenings where
  Node's reading is an accident: the type, attachment count and ack id must be ASCII digits
  (Node's ``Number()`` also takes ``" "``, so ``'2 ["x"]'`` is ack id 0 to Node and refused
  here), ack ids above 2**53 - 1 are refused (Node would lose precision), a payload is
  required where the protocol requires one (EVENT, ACK, CONNECT_ERROR), and in a binary
  packet every placeholder must resolve.
* JSON is read as ``JSON.parse`` reads it: orjson first; what orjson refuses but JavaScript
  takes (numbers beyond a double, lone surrogates) gets a second, slower chance.
* Decoded binary packets come out as EVENT/ACK with their ``bytes`` back in place, as Node's
  decoder gives them; encoding picks EVENT or BINARY_EVENT (ACK or BINARY_ACK) from the data,
  so a packet carrying bytes never goes out as a plain EVENT.
* The hot path pays for binary support only when there is binary: encoders try orjson first
  and look for bytes only when orjson refuses the data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

import orjson

from .errors import DecodeError

__all__ = [
    "RESERVED_EVENTS",
    "Decoder",
    "JsonDecoder",
    "JsonParser",
    "Packet",
    "PacketFields",
    "PacketType",
    "Parser",
    "encode_ack_text",
    "encode_event_text",
    "has_binary",
    "json_parser",
]


class PacketType(IntEnum):
    """Socket.IO packet types: the first digit of a JSON-encoded packet."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


#: Event names a peer may not send: they mean something to the Socket.IO layer itself.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


@dataclass(frozen=True, slots=True)
class Packet:
    """One Socket.IO packet.

    ``data`` by type: EVENT the list ``[event, *args]``; ACK the list of args; CONNECT an
    optional dict (the client's auth payload, or the server's ``{"sid": ...}``); CONNECT_ERROR
    a dict (``{"message": ...}``) or a str; DISCONNECT nothing. ``None`` means no payload.
    ``id`` is the ack id, if the sender wants an acknowledgement (EVENT) or answers one (ACK).
    """

    type: PacketType
    namespace: str = "/"
    data: Any = None
    id: int | None = None


#: A decoded packet as a plain tuple ``(type, namespace, data, id)``, for the hot path:
#: building one costs a fraction of a frozen :class:`Packet`.
PacketFields = tuple[PacketType, str, Any, "int | None"]


class Decoder(Protocol):
    """Decodes the messages of one connection (binary attachments make it stateful)."""

    def feed(self, data: str | bytes) -> Packet | None:
        """Take one Engine.IO message; return the packet it completes, or ``None`` while
        attachments are still due. Raises :class:`~turbosio.protocol.DecodeError`."""

    def feed_fields(self, data: str | bytes) -> PacketFields | None:
        """Same as :meth:`feed`, the packet as ``(type, namespace, data, id)``."""


class Parser(Protocol):
    """A Socket.IO packet codec (the ``parser`` option of Node's socket.io)."""

    def encode(self, packet: Packet) -> list[str | bytes]:
        """Encode a packet into Engine.IO messages: the packet first, then its attachments.

        Raises ``TypeError`` if the data holds values the codec cannot serialise.
        """

    def decoder(self, max_attachments: int | None = None) -> Decoder:
        """A decoder for one connection; ``max_attachments`` (if given) overrides the
        parser's limit on the attachments one packet may announce (if it has any)."""


# --- shared tables -------------------------------------------------------------------------

_TYPES = tuple(PacketType)
_TYPE_BY_CHAR: dict[str, PacketType] = {str(int(t)): t for t in PacketType}
_CONNECT = PacketType.CONNECT
_DISCONNECT = PacketType.DISCONNECT
_EVENT = PacketType.EVENT
_ACK = PacketType.ACK
_CONNECT_ERROR = PacketType.CONNECT_ERROR
_BINARY_EVENT = PacketType.BINARY_EVENT
_BINARY_ACK = PacketType.BINARY_ACK

_BINARY = (bytes, bytearray, memoryview)
_SCALARS = frozenset({str, int, float, bool, type(None)})
# orjson refuses to encode containers nested deeper than this; we stop at the same depth.
_MAX_DEPTH = 254
# Largest integer a JavaScript peer represents exactly (Number.MAX_SAFE_INTEGER).
_MAX_ID = 2**53 - 1
_DIGITS = re.compile(r"[0-9]+")

_loads = orjson.loads
_orjson_dumps = orjson.dumps


def _dumps(obj: Any) -> bytes:
    try:
        return _orjson_dumps(obj)
    except TypeError as exc:
        # orjson stops at 254 levels of nesting, while data decoded from a client may be
        # nested up to 1024 levels (and Node's JSON.stringify goes deeper still): encode such
        # data without recursion instead of failing the emit.
        if "ecursion" not in str(exc):
            raise
        return _dumps_deep(obj)


def _dumps_deep(obj: Any) -> bytes:
    """JSON of arbitrarily nested lists and dicts, built with an explicit stack."""
    out: list[bytes] = []
    # Work items: a value to encode, or a literal piece of output (a closing bracket carries
    # the id of its container, which leaves the current path there).
    stack: list[Any] = [obj]
    path: set[int] = set()
    literal = _Literal
    while stack:
        item = stack.pop()
        if type(item) is literal:
            out.append(item.piece)
            if item.owner:
                path.discard(item.owner)
            continue
        is_list = isinstance(item, (list, tuple))
        if not is_list and not isinstance(item, dict):
            out.append(_orjson_dumps(item))
            continue
        key = id(item)
        if key in path:
            raise TypeError("circular reference in packet data")
        if len(path) >= _MAX_DEEP:
            raise TypeError("packet data nested too deeply")
        path.add(key)
        if is_list:
            out.append(b"[")
            stack.append(literal(b"]", key))
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(literal(b","))
        else:
            out.append(b"{")
            stack.append(literal(b"}", key))
            pairs = list(item.items())
            for index in range(len(pairs) - 1, -1, -1):
                name, value = pairs[index]
                if not isinstance(name, str):
                    raise TypeError("dict keys must be str")
                stack.append(value)
                stack.append(literal(_orjson_dumps(name) + b":"))
                if index:
                    stack.append(literal(b","))
    return b"".join(out)


#: How deep ``_dumps_deep`` goes (Node's own JSON.stringify overflows its stack near 5000).
_MAX_DEEP = 100_000


class _Literal:
    __slots__ = ("owner", "piece")

    def __init__(self, piece: bytes, owner: int = 0) -> None:
        self.piece = piece
        self.owner = owner


_new = object.__new__
# A frozen dataclass's __init__ sets each field through object.__setattr__; the slot
# descriptors do the same job faster, which matters for one packet per message.
_set_type = Packet.__dict__["type"].__set__
_set_namespace = Packet.__dict__["namespace"].__set__
_set_data = Packet.__dict__["data"].__set__
_set_id = Packet.__dict__["id"].__set__


def _packet(ptype: PacketType, namespace: str, data: Any, ack_id: int | None) -> Packet:
    packet: Packet = _new(Packet)
    _set_type(packet, ptype)
    _set_namespace(packet, namespace)
    _set_data(packet, data)
    _set_id(packet, ack_id)
    return packet


# --- binary detection and (de)construction ---------------------------------------------------


def has_binary(obj: Any) -> bool:
    """Whether ``obj`` is, or holds (in lists, tuples and dict values, at any depth), a
    ``bytes``, ``bytearray`` or ``memoryview``. Costs one type check for a scalar."""
    if type(obj) in _SCALARS:
        return False
    if isinstance(obj, _BINARY):
        return True
    # Iterative, and each container visited once: safe on deep or self-referencing data.
    stack = [obj]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if isinstance(node, (list, tuple)):
            values: Any = node
        elif isinstance(node, dict):
            values = node.values()
        else:
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        for value in values:
            if type(value) in _SCALARS:
                continue
            if isinstance(value, _BINARY):
                return True
            stack.append(value)
    return False


def _deconstruct(obj: Any, buffers: list[bytes], path: set[int]) -> Any:
    """Copy the container ``obj`` with every binary value in it replaced by a numbered
    placeholder; other values are shared, not copied."""
    if isinstance(obj, (list, tuple)):
        items: Any = enumerate(obj)
        copy: Any = list(obj)
    elif isinstance(obj, dict):
        items = obj.items()
        copy = dict(obj)
    else:
        return obj
    key = id(obj)
    if key in path:
        raise TypeError("circular reference in packet data")
    if len(path) >= _MAX_DEPTH:
        raise TypeError("packet data nested too deeply")
    path.add(key)
    for k, value in items:
        if type(value) in _SCALARS:
            continue
        if isinstance(value, _BINARY):
            buffers.append(bytes(value))
            copy[k] = {"_placeholder": True, "num": len(buffers) - 1}
        else:
            copy[k] = _deconstruct(value, buffers, path)
    path.discard(key)
    return copy


def _take_attachment(placeholder: dict[str, Any], buffers: list[bytes]) -> bytes:
    num = placeholder.get("num")
    if type(num) is float and num.is_integer():
        num = int(num)
    if type(num) is not int or not 0 <= num < len(buffers):
        raise DecodeError("illegal attachments")
    return buffers[num]


def _reconstruct(data: Any, buffers: list[bytes]) -> None:
    """Put the attachments back in place of their placeholders, in place."""
    # Iterative: orjson decodes up to 1024 levels, deeper than Python's recursion limit.
    stack = [data]
    while stack:
        node = stack.pop()
        items: Any = enumerate(node) if type(node) is list else node.items()
        for key, value in items:
            kind = type(value)
            if kind is dict:
                if value.get("_placeholder") is True:
                    node[key] = _take_attachment(value, buffers)
                else:
                    stack.append(value)
            elif kind is list:
                stack.append(value)


# --- JSON decoding -----------------------------------------------------------------------------


_JSON_BLANKS = frozenset(" \t\n\r")
_INT64_MIN = -(2**63)
_UINT64_END = 2**64


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_int(digits: str) -> int | float:
    # Beyond 64 bits orjson gives a float (and cannot encode the int back): do the same.
    number = int(digits)
    return number if _INT64_MIN <= number < _UINT64_END else float(digits)


_JSON_TOKEN = re.compile(
    r'[ \t\n\r]*(?:([\[\]{},:])|("(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")'
    r"|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)|(true|false|null))"
)
_JSON_WORDS = {"true": True, "false": False, "null": None}


def _loads_deep(text: str) -> Any:
    """Parse JSON with an explicit stack (no recursion), for pathologically deep nesting."""
    match = _JSON_TOKEN.match
    pos = 0
    # Each frame: [container, pending dict key or None, expecting a value?]
    stack: list[list[Any]] = []
    result: Any = None
    done = False
    while True:
        m = match(text, pos)
        if m is None:
            break
        pos = m.end()
        punct, string, number, word = m.groups()
        frame = stack[-1] if stack else None
        if punct in ("]", "}"):
            if frame is None or (punct == "]") != (type(frame[0]) is list):
                raise DecodeError("invalid payload")
            if frame[1] is not None or (frame[2] and frame[0]):  # a key alone, a trailing comma
                raise DecodeError("invalid payload")
            value: Any = stack.pop()[0]
        elif punct == ",":
            if frame is None or frame[2] or (type(frame[0]) is dict and frame[1] is not None):
                raise DecodeError("invalid payload")
            frame[2] = True
            continue
        elif punct == ":":
            if frame is None or type(frame[0]) is not dict or frame[1] is None or frame[2]:
                raise DecodeError("invalid payload")
            frame[2] = True
            continue
        elif punct in ("[", "{"):
            if done or (frame is not None and not frame[2]):
                raise DecodeError("invalid payload")
            stack.append([[] if punct == "[" else {}, None, True])
            continue
        elif string is not None:
            value = json.loads(string)
            if frame is not None and type(frame[0]) is dict and frame[1] is None:
                if not frame[2]:
                    raise DecodeError("invalid payload")
                frame[1] = value
                frame[2] = False
                continue
        elif number is not None:
            value = _parse_int(number) if number.lstrip("-").isdigit() else float(number)
        else:
            value = _JSON_WORDS[word]
        # A complete value: place it.
        frame = stack[-1] if stack else None
        if frame is None:
            if done:
                raise DecodeError("invalid payload")
            result, done = value, True
        elif not frame[2]:
            raise DecodeError("invalid payload")
        elif type(frame[0]) is list:
            frame[0].append(value)
            frame[2] = False
        else:
            frame[0][frame[1]] = value
            frame[1] = None
            frame[2] = False
    if stack or not done or text[pos:].strip(" \t\n\r"):
        raise DecodeError("invalid payload")
    return result


def _loads_like_javascript(text: str) -> Any:
    """The second chance for JSON that orjson refuses but JSON.parse takes: numbers beyond
    a double (Infinity in JavaScript, ``inf`` here) and lone surrogates such as ``"\\ud83d"``
    (what JSON.stringify makes of a string cut in the middle of an emoji), which become
    U+FFFD, as they do when Node writes such a string to the wire as UTF-8."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int)
    except RecursionError:
        # Nested deeper than any recursive parser goes; JSON.parse takes it, so do we.
        value = _loads_deep(text)
    except ValueError:
        raise DecodeError("invalid payload") from None
    stack: list[Any] = [value] if isinstance(value, (list, dict)) else []
    if isinstance(value, str):
        return _well_formed(value)
    while stack:
        node = stack.pop()
        if type(node) is list:
            for index, item in enumerate(node):
                if type(item) is str:
                    node[index] = _well_formed(item)
                elif type(item) is list or type(item) is dict:
                    stack.append(item)
        else:
            for key, item in list(node.items()):
                if type(item) is str:
                    item = _well_formed(item)
                elif type(item) is list or type(item) is dict:
                    stack.append(item)
                fixed = _well_formed(key)
                if fixed is not key:
                    del node[key]
                node[fixed] = item
    return value


def _well_formed(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Surrogate pairs are already joined by the decoder; what is left is lone.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _check_payload(ptype: PacketType, data: Any, present: bool) -> None:
    """socket.io-parser's payload rules (isPayloadValid / isDataValid)."""
    if ptype is _EVENT or ptype is _BINARY_EVENT:
        if type(data) is not list or not data:
            raise DecodeError("invalid payload")
        kind = type(data[0])
        if kind is str:
            if data[0] in RESERVED_EVENTS:
                raise DecodeError("reserved event name")
        elif kind is not int and kind is not float:
            raise DecodeError("invalid payload")
    elif ptype is _ACK or ptype is _BINARY_ACK:
        if type(data) is not list:
            raise DecodeError("invalid payload")
    elif ptype is _CONNECT:
        if present and type(data) is not dict:
            raise DecodeError("invalid payload")
    elif ptype is _DISCONNECT:
        if present:
            raise DecodeError("invalid payload")
    elif type(data) is not str and type(data) is not dict:  # CONNECT_ERROR
        raise DecodeError("invalid payload")


def _parse(text: str, max_attachments: int) -> tuple[PacketType, str, Any, int | None, int]:
    """Decode one JSON-encoded packet; the last item is its attachment count (-1: none)."""
    if not text:
        raise DecodeError("empty packet")
    ptype = _TYPE_BY_CHAR.get(text[0])
    if ptype is None:
        raise DecodeError("unknown packet type")
    end = len(text)
    i = 1
    attachments = -1
    if ptype is _BINARY_EVENT or ptype is _BINARY_ACK:
        dash = text.find("-", 1)
        count = text[1:dash]
        if dash < 0 or not count or not (count.isascii() and count.isdigit()):
            raise DecodeError("illegal attachments")
        count = count.lstrip("0")
        if len(count) > 6 or int(count or "0") > max_attachments:
            raise DecodeError("too many attachments")
        attachments = int(count or "0")
        i = dash + 1

    namespace = "/"
    if i < end and text[i] == "/":
        comma = text.find(",", i)
        if comma < 0:
            namespace = text[i:]
            i = end
        else:
            namespace = text[i:comma]
            i = comma + 1

    ack_id = None
    if i < end and "0" <= text[i] <= "9":
        match = _DIGITS.match(text, i)
        assert match is not None  # text[i] is a digit
        digits = match.group().lstrip("0")
        if len(digits) > 16 or (digits and int(digits) > _MAX_ID):
            raise DecodeError("invalid ack id")
        ack_id = int(digits or "0")
        i = match.end()

    if i < end:
        if ack_id is None and text[i] in _JSON_BLANKS:
            # Node's Number(" ") == 0 makes a blank here an ack id; refuse it instead.
            raise DecodeError("invalid ack id")
        try:
            data = _loads(text[i:])
        except ValueError:  # orjson.JSONDecodeError, including its depth limit
            data = _loads_like_javascript(text[i:])
        _check_payload(ptype, data, True)
    else:
        data = None
        _check_payload(ptype, None, False)
    return ptype, namespace, data, ack_id, attachments


class JsonDecoder:
    """Decoder of the default (JSON) parser, for one connection.

    Text messages are packets; a BINARY_EVENT/BINARY_ACK announces ``n`` attachments, which
    must follow as the next ``n`` binary messages. At most ``max_attachments`` may be
    announced (Node's default is 10). After a :class:`~turbosio.protocol.DecodeError` the
    decoder starts afresh, though a server normally closes the connection instead.
    """

    __slots__ = ("_buffers", "_pending", "max_attachments")

    def __init__(self, max_attachments: int = 10) -> None:
        self.max_attachments = max_attachments
        self._pending: tuple[PacketType, str, Any, int | None, int] | None = None
        # The attachments received so far, only while a binary packet is pending: most
        # connections never send one, and an idle connection should cost little memory.
        self._buffers: list[bytes] | None = None

    @property
    def awaiting_attachments(self) -> bool:
        """Whether a binary packet is waiting for more attachments."""
        return self._pending is not None

    def reset(self) -> None:
        """Forget a partly received binary packet."""
        self._pending = None
        self._buffers = None

    def feed(self, data: str | bytes) -> Packet | None:
        """Take one Engine.IO message; return the packet it completes, or ``None`` while
        attachments are still due. Raises :class:`~turbosio.protocol.DecodeError`."""
        fields = self.feed_fields(data)
        if fields is None:
            return None
        return _packet(*fields)

    def feed_fields(self, data: str | bytes) -> PacketFields | None:
        """Same as :meth:`feed`, the packet as ``(type, namespace, data, id)``."""
        if type(data) is str and self._pending is None:
            first = data[:1]
            if first == "2" or first == "3":
                # The common shapes, an EVENT or ACK on the main namespace with an ack id of
                # at most 15 digits, skip the general parser's branches; whatever else they
                # may hold (a namespace, a blank, JSON orjson refuses, a reserved or numeric
                # event name) takes the general path below, which decides.
                k = data.find("[", 1)
                if k > 0:
                    digits = data[1:k]
                    if not digits or (len(digits) < 16 and digits.isdigit() and digits.isascii()):
                        try:
                            payload = _loads(data[k:])
                        except ValueError:
                            payload = None
                        if type(payload) is list:
                            ack_id = int(digits) if digits else None
                            if first == "3":
                                return _ACK, "/", payload, ack_id
                            if payload:
                                event = payload[0]
                                if type(event) is str and event not in RESERVED_EVENTS:
                                    return _EVENT, "/", payload, ack_id
        if isinstance(data, str):
            if self._pending is not None:
                self.reset()
                raise DecodeError("got plaintext data when reconstructing a packet")
            ptype, namespace, payload, ack_id, attachments = _parse(data, self.max_attachments)
            if attachments < 0:
                return ptype, namespace, payload, ack_id
            ptype = _EVENT if ptype is _BINARY_EVENT else _ACK
            if attachments == 0:
                _reconstruct(payload, [])
                return ptype, namespace, payload, ack_id
            self._pending = (ptype, namespace, payload, ack_id, attachments)
            self._buffers = []
            return None
        if isinstance(data, _BINARY):
            pending = self._pending
            if pending is None:
                raise DecodeError("got binary data when not reconstructing a packet")
            buffers = self._buffers
            assert buffers is not None  # set with _pending
            buffers.append(bytes(data))
            if len(buffers) < pending[4]:
                return None
            self.reset()
            _reconstruct(pending[2], buffers)
            return pending[0], pending[1], pending[2], pending[3]
        raise TypeError(f"expected str or bytes, got {type(data).__name__}")


# --- JSON encoding -----------------------------------------------------------------------------


def _namespace_prefix(namespace: str) -> str:
    if namespace == "/" or not namespace:
        return ""
    if namespace[0] != "/" or "," in namespace:
        raise ValueError(f"invalid namespace {namespace!r}: it starts with '/' and has no ','")
    return namespace + ","


def _id_text(ack_id: int | None) -> str:
    if ack_id is None:
        return ""
    if type(ack_id) is not int or ack_id < 0:
        raise ValueError(f"invalid ack id {ack_id!r}: use a non-negative int")
    return str(ack_id)


def _encode_text(
    ptype_char: str, namespace: str, ack_id: int | None, data: Any, has_data: bool
) -> str:
    text = ptype_char + _namespace_prefix(namespace) + _id_text(ack_id)
    return text + _dumps(data).decode() if has_data else text


def _encode_message_text(type_chars: str, namespace: str, data: Any, ack_id: int | None) -> str:
    # type_chars is the Engine.IO "4" plus the Socket.IO type digit.
    body = _dumps(data).decode()
    if namespace == "/":
        if ack_id is None:
            return type_chars + body
        return type_chars + _id_text(ack_id) + body
    return type_chars + _namespace_prefix(namespace) + _id_text(ack_id) + body


def encode_event_text(namespace: str, data: list[Any], ack_id: int | None = None) -> str | None:
    """The Engine.IO text packet of an EVENT: ``'42["chat","hi"]'``, ``'42/chat,5["x"]'``.

    ``data`` is ``[event, *args]``. Returns ``None`` if ``data`` holds binary: then encode a
    :class:`Packet` with :meth:`JsonParser.encode`. Raises ``TypeError`` for data orjson cannot
    serialise, ``ValueError`` for a malformed namespace or ack id.
    """
    if namespace == "/" and ack_id is None:
        # The usual emit; anything orjson refuses (binary, deep nesting) goes the long way.
        try:
            return "42" + _orjson_dumps(data).decode()
        except TypeError:
            pass
    try:
        return _encode_message_text("42", namespace, data, ack_id)
    except TypeError:
        if has_binary(data):
            return None
        raise


def encode_ack_text(namespace: str, args: list[Any], ack_id: int) -> str | None:
    """The Engine.IO text packet of an ACK: ``'43456[1,"2"]'``, or ``None`` if ``args`` holds
    binary (see :func:`encode_event_text`)."""
    if namespace == "/" and type(ack_id) is int and ack_id >= 0:
        # The usual ack; anything orjson refuses (binary, deep nesting) goes the long way.
        try:
            return "43" + str(ack_id) + _orjson_dumps(args).decode()
        except TypeError:
            pass
    try:
        return _encode_message_text("43", namespace, args, ack_id)
    except TypeError:
        if has_binary(args):
            return None
        raise


class JsonParser:
    """The default parser (socket.io-parser): packets as text, binary as attachments."""

    __slots__ = ("max_attachments",)

    def __init__(self, max_attachments: int = 10) -> None:
        self.max_attachments = max_attachments

    def encode(self, packet: Packet) -> list[str | bytes]:
        """Encode a packet: its text first, then its binary attachments, if any.

        EVENT/ACK packets whose data holds ``bytes`` (in lists and dict values, at any depth)
        go out as BINARY_EVENT/BINARY_ACK with placeholders, the bytes as attachments; a
        BINARY_* packet without bytes goes out as plain EVENT/ACK. Raises ``TypeError`` for
        data orjson cannot serialise, ``ValueError`` for a malformed namespace or ack id.
        """
        ptype = packet.type
        data = packet.data
        if data is None:
            return [_encode_text(str(int(ptype)), packet.namespace, packet.id, None, False)]
        if ptype in (_EVENT, _BINARY_EVENT):
            plain, binary = "2", "5"
        elif ptype in (_ACK, _BINARY_ACK):
            plain, binary = "3", "6"
        else:
            return [_encode_text(str(int(ptype)), packet.namespace, packet.id, data, True)]
        try:
            return [_encode_text(plain, packet.namespace, packet.id, data, True)]
        except TypeError:
            # orjson refused the data: bytes in it, or something else it cannot serialise.
            buffers: list[bytes] = []
            stripped = _deconstruct(data, buffers, set())
            if not buffers:
                raise
        header = binary + str(len(buffers)) + "-"
        out: list[str | bytes] = [_encode_text(header, packet.namespace, packet.id, stripped, True)]
        out.extend(buffers)
        return out

    def decoder(self, max_attachments: int | None = None) -> JsonDecoder:
        """A new decoder for one connection, accepting at most ``max_attachments``
        attachments per packet (default: the parser's ``max_attachments``)."""
        return JsonDecoder(self.max_attachments if max_attachments is None else max_attachments)


#: The default parser.
json_parser = JsonParser()
