"""Flask-SocketIO's documented behaviour, through the in-process test client.

Each test follows a statement of Flask-SocketIO's documentation (Getting Started, the API
reference, the implementation notes): handlers, their arguments and acknowledgements, the
context functions, rooms, namespaces, error handlers, sessions, options.
"""

from __future__ import annotations

import decimal
import json
import threading
from typing import Any

import pytest

from flask import Flask, current_app, g, request, session
from turbosio.flask import (
    ConnectionRefusedError,
    Namespace,
    SocketIO,
    close_room,
    disconnect,
    emit,
    join_room,
    leave_room,
    rooms,
    send,
)

# -- connecting ----------------------------------------------------------------------------------


def test_connect_handler_gets_auth_and_request_sid(app: Flask, socketio: SocketIO) -> None:
    """The connect handler receives the client's auth dict (None without one) and runs with
    request.sid, the socket's id, which is also its own room."""

    @socketio.on("connect")
    def connect(auth: Any) -> None:
        emit("welcome", {"auth": auth, "sid": request.sid, "rooms": rooms()})

    with_auth = socketio.test_client(app, auth={"token": "abc"})
    without = socketio.test_client(app)
    [welcome] = with_auth.get_received()
    assert welcome["name"] == "welcome"
    payload = welcome["args"][0]
    assert payload["auth"] == {"token": "abc"}
    assert payload["rooms"] == [payload["sid"]]
    assert without.get_received()[0]["args"][0]["auth"] is None


def test_connect_handler_without_auth_parameter(app: Flask, socketio: SocketIO) -> None:
    """The auth argument is optional: a handler without it is called without it."""
    calls: list[str] = []

    @socketio.on("connect")
    def connect() -> None:
        calls.append(request.sid)

    client = socketio.test_client(app, auth={"ignored": True})
    assert client.is_connected()
    assert len(calls) == 1


@pytest.mark.parametrize(
    "refusal",
    [
        lambda: False,
        lambda: (_ for _ in ()).throw(ConnectionRefusedError("unauthorized!")),
        lambda: (_ for _ in ()).throw(builtins_refused()),
    ],
    ids=["return-false", "ConnectionRefusedError", "builtin-ConnectionRefusedError"],
)
def test_connect_refused(app: Flask, socketio: SocketIO, refusal: Any) -> None:
    """Returning False or raising ConnectionRefusedError (ours or Python's) refuses."""

    @socketio.on("connect")
    def connect(auth: Any) -> Any:
        return refusal()

    client = socketio.test_client(app)
    assert not client.is_connected()
    with pytest.raises(RuntimeError):
        client.emit("anything")


def builtins_refused() -> Exception:
    import builtins

    return builtins.ConnectionRefusedError("nope")


def test_connection_refused_error_payload() -> None:
    """ConnectionRefusedError's arguments become the CONNECT_ERROR message and data."""
    assert ConnectionRefusedError().error_args == {"message": "Connection rejected by server"}
    assert ConnectionRefusedError("no").error_args == {"message": "no"}
    assert ConnectionRefusedError("no", {"code": 4}).error_args == {
        "message": "no",
        "data": {"code": 4},
    }
    assert ConnectionRefusedError("no", 1, 2).data == [1, 2]


def test_always_connect(app: Flask) -> None:
    """With always_connect the connection is accepted before the handler runs; what the
    handler emits arrives, and a False answer disconnects afterwards."""
    socketio = SocketIO(app, always_connect=True)

    @socketio.on("connect")
    def connect(auth: Any) -> bool:
        emit("hello", "from connect")
        return bool(auth and auth.get("ok"))

    accepted = socketio.test_client(app, auth={"ok": True})
    assert accepted.is_connected()
    assert accepted.get_received() == [
        {"name": "hello", "args": ["from connect"], "namespace": "/"}
    ]
    rejected = socketio.test_client(app)
    assert not rejected.is_connected()


# -- events and acknowledgements ----------------------------------------------------------------


def test_message_json_and_named_events(app: Flask, socketio: SocketIO) -> None:
    """'message' and 'json' are unnamed events; named events take several arguments;
    send() answers the sender with the same kind of message."""

    @socketio.on("message")
    def on_message(message: Any) -> None:
        send(message)

    @socketio.on("json")
    def on_json(data: Any) -> None:
        send(data, json=True)

    @socketio.on("my_event")
    def on_my_event(a: Any, b: Any, c: Any) -> None:
        emit("my_response", (a, b, c))

    client = socketio.test_client(app)
    client.send("hello")
    client.send({"a": 1}, json=True)
    client.emit("my_event", 1, "two", [3])
    assert client.get_received() == [
        {"name": "message", "args": "hello", "namespace": "/"},
        {"name": "json", "args": {"a": 1}, "namespace": "/"},
        {"name": "my_response", "args": [1, "two", [3]], "namespace": "/"},
    ]


def test_ack_is_the_return_value(app: Flask, socketio: SocketIO) -> None:
    """What the handler returns is the acknowledgement; a tuple gives several arguments."""

    @socketio.on("one")
    def one(value: Any) -> Any:
        return value * 2

    @socketio.on("several")
    def several() -> tuple[str, int]:
        return "one", 2

    @socketio.on("none")
    def none() -> None:
        return None

    client = socketio.test_client(app)
    assert client.emit("one", 21, callback=True) == 42
    assert client.emit("several", callback=True) == ["one", 2]
    assert client.emit("none", callback=True) == []


def test_event_decorator_and_on_event(app: Flask, socketio: SocketIO) -> None:
    """@socketio.event takes the event name from the function; on_event is the plain form."""

    @socketio.event
    def ping() -> str:
        return "pong"

    @socketio.event(namespace="/chat")
    def hello() -> str:
        return "hello from chat"

    def shout(text: str) -> str:
        return text.upper()

    socketio.on_event("shout", shout)
    client = socketio.test_client(app)
    client.connect("/chat")
    assert client.emit("ping", callback=True) == "pong"
    assert client.emit("shout", "hi", callback=True) == "HI"
    assert client.emit("hello", callback=True, namespace="/chat") == "hello from chat"


def test_binary_payloads(app: Flask, socketio: SocketIO) -> None:
    """Bytes travel as binary attachments, both ways."""

    @socketio.on("blob")
    def blob(data: dict[str, Any]) -> dict[str, Any]:
        emit("blob-back", {"raw": data["raw"][::-1]})
        return {"size": len(data["raw"])}

    client = socketio.test_client(app)
    assert client.emit("blob", {"raw": b"\x00\x01\x02"}, callback=True) == {"size": 3}
    assert client.get_received() == [
        {"name": "blob-back", "args": [{"raw": b"\x02\x01\x00"}], "namespace": "/"}
    ]


def test_unhandled_event_is_not_acknowledged(app: Flask, socketio: SocketIO) -> None:
    """An event no handler takes is ignored: no acknowledgement."""
    client = socketio.test_client(app)
    assert client.emit("nobody-listens", callback=True) is None


# -- emitting -------------------------------------------------------------------------------------


@pytest.fixture
def three(app: Flask, socketio: SocketIO) -> list[Any]:
    """Three connected test clients of an app with the handlers below."""

    @socketio.on("to-sender")
    def to_sender(text: str) -> None:
        emit("news", text)

    @socketio.on("to-all")
    def to_all(text: str) -> None:
        emit("news", text, broadcast=True)

    @socketio.on("to-others")
    def to_others(text: str) -> None:
        emit("news", text, broadcast=True, include_self=False)

    @socketio.on("to-room")
    def to_room(room: str, text: str) -> None:
        emit("news", text, to=room)

    @socketio.on("room-kw")
    def room_kw(room: str, text: str) -> None:
        send(text, room=room)

    @socketio.on("skip")
    def skip(sid: str, text: str) -> None:
        emit("news", text, broadcast=True, skip_sid=sid)

    @socketio.on("join")
    def join(room: str) -> str:
        join_room(room)
        return str(request.sid)

    @socketio.on("leave")
    def leave(room: str) -> list[str]:
        leave_room(room)
        return rooms()

    @socketio.on("close")
    def close(room: str) -> None:
        close_room(room)

    clients = [socketio.test_client(app) for _ in range(3)]
    for client in clients:
        client.get_received()
    return clients


def news(client: Any) -> list[Any]:
    """The news a client received: "news" events' argument, "message" events' value."""
    return [
        item["args"] if item["name"] == "message" else item["args"][0]
        for item in client.get_received()
        if item["name"] in ("news", "message")
    ]


def test_emit_goes_to_the_sender_by_default(three: list[Any]) -> None:
    a, b, c = three
    a.emit("to-sender", "only a")
    assert (news(a), news(b), news(c)) == (["only a"], [], [])


def test_broadcast_reaches_everyone_the_sender_too(three: list[Any]) -> None:
    a, b, c = three
    b.emit("to-all", "all")
    assert (news(a), news(b), news(c)) == (["all"], ["all"], ["all"])


def test_include_self_false_leaves_the_sender_out(three: list[Any]) -> None:
    a, b, c = three
    b.emit("to-others", "others")
    assert (news(a), news(b), news(c)) == (["others"], [], ["others"])


def test_rooms_to_room_and_skip_sid(three: list[Any]) -> None:
    """to= and room= address a room; skip_sid leaves a client out; leave_room and
    close_room take clients out."""
    a, b, c = three
    sid_a = a.emit("join", "lobby", callback=True)
    b.emit("join", "lobby", callback=True)
    c.emit("to-room", "lobby", "to lobby")
    c.emit("room-kw", "lobby", "room= too")
    assert (news(a), news(b), news(c)) == (
        ["to lobby", "room= too"],
        ["to lobby", "room= too"],
        [],
    )
    c.emit("skip", sid_a, "not for a")
    assert (news(a), news(b), news(c)) == ([], ["not for a"], ["not for a"])
    sid_b = b.emit("join", "x", callback=True)
    assert b.emit("leave", "lobby", callback=True) == [sid_b, "x"]
    c.emit("to-room", "lobby", "after leave")
    assert (news(a), news(b)) == (["after leave"], [])
    c.emit("close", "lobby")
    c.emit("to-room", "lobby", "after close")
    assert news(a) == []


def test_emit_to_a_sid(three: list[Any], socketio: SocketIO) -> None:
    """A client's sid is a room: socketio.emit(to=sid) reaches that client only."""
    a, b, c = three
    sid_b = b.emit("join", "somewhere", callback=True)
    socketio.emit("news", "for b", to=sid_b)
    assert (news(a), news(b), news(c)) == ([], ["for b"], [])


def test_socketio_emit_from_outside_a_handler(three: list[Any], socketio: SocketIO) -> None:
    """socketio.emit/send without a client context broadcast to the namespace."""
    a, b, c = three
    socketio.emit("news", "server says")
    socketio.send("plain message")
    assert news(a) == news(b) == news(c) == ["server says", "plain message"]


def test_emit_from_a_background_task(app: Flask, socketio: SocketIO) -> None:
    """socketio.emit works from a thread started by start_background_task, in order."""
    client = socketio.test_client(app)

    def worker() -> None:
        for i in range(20):
            socketio.emit("tick", i)
            socketio.sleep(0)

    task = socketio.start_background_task(worker)
    assert isinstance(task, threading.Thread)
    task.join(5)
    assert [item["args"] for item in client.get_received()] == [[i] for i in range(20)]


def test_emit_tuple_and_none(app: Flask, socketio: SocketIO) -> None:
    """A tuple is several arguments, None is no argument, anything else is one."""

    @socketio.on("go")
    def go() -> None:
        emit("tuple", (1, 2, 3))
        emit("none", None)
        emit("list", [1, 2])

    client = socketio.test_client(app)
    client.emit("go")
    assert [(i["name"], i["args"]) for i in client.get_received()] == [
        ("tuple", [1, 2, 3]),
        ("none", []),
        ("list", [[1, 2]]),
    ]


def test_server_disconnect(app: Flask, socketio: SocketIO) -> None:
    """disconnect() ends the client's connection to the namespace; its disconnect handler
    gets reason SERVER_DISCONNECT."""
    reasons: list[str] = []

    @socketio.on("kick-me")
    def kick_me() -> None:
        disconnect()

    @socketio.on("disconnect")
    def gone(reason: str) -> None:
        reasons.append(reason)

    client = socketio.test_client(app)
    client.emit("kick-me")
    assert not client.is_connected()
    assert reasons == [SocketIO.reason.SERVER_DISCONNECT]


def test_client_disconnect_reason_and_legacy_handler(app: Flask, socketio: SocketIO) -> None:
    """A client leaving gives CLIENT_DISCONNECT; a handler without the reason still runs."""
    reasons: list[Any] = []

    @socketio.on("disconnect")
    def gone(reason: str) -> None:
        reasons.append((request.sid, reason))

    @socketio.on("disconnect", namespace="/legacy")
    def legacy() -> None:
        reasons.append("legacy")

    client = socketio.test_client(app)
    client.connect("/legacy")
    sid = client.emit("whoami", callback=True)
    client.disconnect()
    client.disconnect("/legacy")
    assert reasons[0][1] == "client disconnect"
    assert reasons[1] == "legacy"
    assert sid is None  # no handler: no ack
    assert not client.is_connected()


# -- namespaces ---------------------------------------------------------------------------------


def test_namespaces_are_separate(app: Flask, socketio: SocketIO) -> None:
    """Handlers, emits and broadcasts stay in their namespace; request.namespace tells which."""

    @socketio.on("where")
    def where_main() -> str:
        emit("here", request.namespace, broadcast=True)
        return "main"

    @socketio.on("where", namespace="/chat")
    def where_chat() -> str:
        emit("here", request.namespace, broadcast=True)
        return "chat"

    client = socketio.test_client(app, namespace="/chat")
    client.connect()
    assert client.emit("where", callback=True, namespace="/chat") == "chat"
    assert client.emit("where", callback=True) == "main"
    assert client.get_received("/chat") == [
        {"name": "here", "args": ["/chat"], "namespace": "/chat"}
    ]
    assert client.get_received() == [{"name": "here", "args": ["/"], "namespace": "/"}]


def test_emit_to_a_namespace_named_without_its_slash(app: Flask, socketio: SocketIO) -> None:
    """``emit(..., namespace="chat")`` in a handler means the namespace "/chat"."""

    @socketio.on("cross")
    def cross(text: str) -> None:
        emit("news", text, namespace="chat", broadcast=True)

    @socketio.on("connect", namespace="/chat")
    def chat_connect() -> None:
        pass

    client = socketio.test_client(app)
    client.connect(namespace="/chat")
    client.emit("cross", "hi")
    assert client.get_received("/chat") == [{"name": "news", "args": ["hi"], "namespace": "/chat"}]
    assert client.get_received() == []


def test_unknown_namespace_is_refused(app: Flask, socketio: SocketIO) -> None:
    client = socketio.test_client(app, namespace="/nowhere")
    assert not client.is_connected("/nowhere")


def test_namespaces_option(app: Flask) -> None:
    """namespaces= lists namespaces to accept without handlers; "*" accepts any."""
    listed = SocketIO(app, namespaces=["/extra"])
    assert listed.test_client(app, namespace="/extra").is_connected("/extra")
    app2 = Flask("second")
    anything = SocketIO(app2, namespaces="*")

    @anything.on("hello", namespace="*")
    def hello(namespace: str, text: str) -> str:
        return f"{text} in {namespace}"

    client = anything.test_client(app2, namespace="/any/thing")
    assert client.is_connected("/any/thing")
    assert client.emit("hello", "hi", callback=True, namespace="/any/thing") == "hi in /any/thing"


def test_catch_all_event(app: Flask, socketio: SocketIO) -> None:
    """on('*') takes the events without a handler of their own, the event name first."""

    @socketio.on("known")
    def known() -> str:
        return "known"

    @socketio.on("*")
    def anything(event: str, *args: Any) -> list[Any]:
        return [event, *args]

    client = socketio.test_client(app)
    assert client.emit("known", callback=True) == "known"
    assert client.emit("surprise", 1, 2, callback=True) == ["surprise", 1, 2]


def test_class_based_namespace(app: Flask, socketio: SocketIO) -> None:
    """on_<event> methods handle the namespace's events; a decorator handler of the same
    event wins; the namespace's emit() defaults to its namespace."""
    seen: list[Any] = []

    class Chat(Namespace):
        def on_connect(self, auth: Any) -> None:
            seen.append(("connect", auth))

        def on_disconnect(self, reason: str) -> None:
            seen.append(("disconnect", reason))

        def on_say(self, text: str) -> str:
            self.emit("said", text)
            return f"said {text}"

        def on_shadowed(self) -> str:
            return "method"

        def on_room(self, room: str) -> list[str]:
            self.enter_room(request.sid, room)
            return self.rooms(request.sid)

    socketio.on_namespace(Chat("/chat"))

    @socketio.on("shadowed", namespace="/chat")
    def shadowed() -> str:
        return "decorator"

    client = socketio.test_client(app, namespace="/chat", auth={"k": 1})
    assert client.emit("say", "hi", callback=True, namespace="/chat") == "said hi"
    assert client.emit("shadowed", callback=True, namespace="/chat") == "decorator"
    assert "r" in client.emit("room", "r", callback=True, namespace="/chat")
    assert client.get_received("/chat") == [{"name": "said", "args": ["hi"], "namespace": "/chat"}]
    client.disconnect("/chat")
    assert seen == [("connect", {"k": 1}), ("disconnect", "client disconnect")]


def test_on_namespace_needs_a_namespace(socketio: SocketIO) -> None:
    with pytest.raises(ValueError, match="Not a namespace"):
        socketio.on_namespace(object())  # type: ignore[arg-type]


# -- errors ---------------------------------------------------------------------------------------


def test_error_handlers(app: Flask, socketio: SocketIO) -> None:
    """on_error(namespace) and on_error_default get the exception, inside the context
    (request.event names the event and its arguments); their return value is the ack."""

    @socketio.on("boom")
    def boom(value: Any) -> None:
        raise ValueError(f"bad {value}")

    @socketio.on("boom", namespace="/other")
    def boom_other() -> None:
        raise KeyError("other")

    @socketio.on_error()
    def on_error(exc: Exception) -> dict[str, Any]:
        return {"error": str(exc), "event": request.event["message"], "sid": request.sid}

    @socketio.on_error_default
    def on_error_default(exc: Exception) -> str:
        return f"default: {type(exc).__name__}"

    client = socketio.test_client(app)
    client.connect("/other")
    answer = client.emit("boom", 7, callback=True)
    assert answer["error"] == "bad 7"
    assert answer["event"] == "boom"
    assert answer["sid"]
    assert client.emit("boom", callback=True, namespace="/other") == "default: KeyError"


def test_handler_error_without_handler_is_logged(
    app: Flask, socketio: SocketIO, caplog: pytest.LogCaptureFixture
) -> None:
    """Without an error handler the exception is logged with its traceback, and no ack."""

    @socketio.on("boom")
    def boom() -> None:
        raise RuntimeError("kaboom")

    client = socketio.test_client(app)
    assert client.emit("boom", callback=True) is None
    assert any("kaboom" in str(r.exc_info) for r in caplog.records if r.exc_info)
    assert client.is_connected()


def test_error_handlers_must_be_callable(socketio: SocketIO) -> None:
    with pytest.raises(ValueError):
        socketio.on_error()(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        socketio.on_error_default(42)  # type: ignore[arg-type]


# -- Flask's context ------------------------------------------------------------------------------


def test_app_context_and_g(app: Flask, socketio: SocketIO) -> None:
    """current_app and g are available; g lasts one event (a new app context each time)."""
    app.config["GREETING"] = "hello"

    @socketio.on("g")
    def use_g() -> list[Any]:
        before = getattr(g, "count", None)
        g.count = 1
        return [current_app.config["GREETING"], before, request.path]

    client = socketio.test_client(app)
    assert client.emit("g", callback=True) == ["hello", None, "/socket.io/"]
    assert client.emit("g", callback=True) == ["hello", None, "/socket.io/"]


def test_request_carries_the_connection_request(app: Flask, socketio: SocketIO) -> None:
    """request.args and headers are those of the connection request."""

    @socketio.on("req")
    def req() -> list[Any]:
        return [request.args.get("room"), request.headers.get("X-Token")]

    client = socketio.test_client(app, query_string="room=kitchen", headers={"X-Token": "t"})
    assert client.emit("req", callback=True) == ["kitchen", "t"]


def test_request_body_fields_are_empty_in_every_event(app: Flask, socketio: SocketIO) -> None:
    """The connection request is a GET without a body: form and files are empty in each
    event's request, and each event's context ends cleanly after the handler read them."""

    @socketio.on("body")
    def body() -> list[Any]:
        return [dict(request.form), list(request.files), request.method, request.args.get("k")]

    client = socketio.test_client(app, query_string="k=v")
    for _ in range(3):
        assert client.emit("body", callback=True) == [{}, [], "GET", "v"]


def test_managed_session_is_a_copy_per_connection(app: Flask, socketio: SocketIO) -> None:
    """With manage_session (the default) handlers get a copy of the user session made at
    connection time; their changes last for the connection and never reach HTTP routes."""

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        return "ok"

    @app.route("/whoami")
    def whoami() -> str:
        return str(session.get("user"))

    @socketio.on("session")
    def sess(new_name: str | None) -> Any:
        user = session.get("user")
        if new_name:
            session["user"] = new_name
        return user

    http = app.test_client()
    http.get("/login/ana")
    client = socketio.test_client(app, flask_test_client=http)
    other = socketio.test_client(app, flask_test_client=http)
    assert client.emit("session", "bob", callback=True) == "ana"
    assert client.emit("session", None, callback=True) == "bob"
    assert other.emit("session", None, callback=True) == "ana"
    assert http.get("/whoami").get_data(as_text=True) == "ana"


def test_unmanaged_session_is_flasks_own(app: Flask) -> None:
    """manage_session=False: Flask's session as loaded from the cookie, at every event."""
    socketio = SocketIO(app, manage_session=False)

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        return "ok"

    @socketio.on("session")
    def sess(new_name: str | None) -> Any:
        user = session.get("user")
        if new_name:
            session["user"] = new_name
        return user

    http = app.test_client()
    http.get("/login/ana")
    client = socketio.test_client(app, flask_test_client=http)
    assert client.emit("session", "bob", callback=True) == "ana"
    # A cookie session cannot be saved without an HTTP response: the change is gone.
    assert client.emit("session", None, callback=True) == "ana"


# -- options --------------------------------------------------------------------------------------


def test_unknown_options_are_refused(app: Flask) -> None:
    with pytest.raises(TypeError, match="unknown option"):
        SocketIO(app, not_an_option=1)
    with pytest.raises(TypeError, match="unknown option"):
        SocketIO(app_without_options := None, ping_intervall=3)  # noqa: F841
    with pytest.raises(ValueError, match="async_mode"):
        SocketIO(app, async_mode="twisted")


def test_known_options_reach_the_server(app: Flask) -> None:
    socketio = SocketIO(
        app,
        cors_allowed_origins="*",
        path="/live",
        ping_interval=(5, 1),
        ping_timeout=3,
        max_http_buffer_size=1234,
        async_mode="eventlet",
        http_compression=False,
        channel="ignored-without-queue",
        logger=False,
        engineio_logger=False,
        cookie="io",
    )
    engine = socketio.server.engine
    assert socketio.server.path == "/live"
    assert (engine.ping_interval, engine.ping_timeout) == (5.0, 3.0)
    assert engine.max_http_buffer_size == 1234
    assert socketio.async_mode == "threading"


def test_init_app_factory(app: Flask) -> None:
    """Handlers registered before init_app (the app-factory pattern) are kept."""
    socketio = SocketIO(cors_allowed_origins="*")

    @socketio.on("ping")
    def ping() -> str:
        return "pong"

    socketio.init_app(app, ping_timeout=7)
    assert app.extensions["socketio"] is socketio
    assert socketio.server.engine.ping_timeout == 7.0
    client = socketio.test_client(app)
    assert client.emit("ping", callback=True) == "pong"


def test_json_option(app: Flask) -> None:
    """json= puts payloads through that module's dumps and loads."""

    class LenientJSON:
        @staticmethod
        def dumps(obj: Any, **kwargs: Any) -> str:
            return json.dumps(obj, default=str)

        @staticmethod
        def loads(text: str | bytes) -> Any:
            return json.loads(text, parse_float=decimal.Decimal)

    socketio = SocketIO(app, json=LenientJSON)

    @socketio.on("price")
    def price(value: Any) -> None:
        emit("price", {"exact": value, "type": type(value).__name__})

    client = socketio.test_client(app)
    client.emit("price", 1.10)
    assert client.get_received() == [
        {"name": "price", "args": [{"exact": "1.1", "type": "Decimal"}], "namespace": "/"}
    ]


def test_call_is_refused_in_the_test_client(app: Flask, socketio: SocketIO) -> None:
    """call() waits for the client, which handlers running on the loop cannot do."""

    @socketio.on("ask")
    def ask() -> str:
        try:
            socketio.call("question", to=request.sid, timeout=1)
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    client = socketio.test_client(app)
    assert "call()" in client.emit("ask", callback=True)


def test_context_functions_need_a_handler(app: Flask) -> None:
    with app.test_request_context("/"), pytest.raises(RuntimeError, match="handler"):
        emit("x")


def test_test_client_calls_need_a_connection(app: Flask, socketio: SocketIO) -> None:
    client = socketio.test_client(app)
    client.disconnect()
    for call in (client.disconnect, client.get_received, lambda: client.emit("x")):
        with pytest.raises(RuntimeError, match="not connected"):
            call()


def test_flask_login_pattern(app: Flask, socketio: SocketIO) -> None:
    """Flask-SocketIO's documented Flask-Login pattern: a user logged in by an HTTP route is
    current_user in the connect handler; anonymous clients are refused."""
    flask_login = pytest.importorskip("flask_login")

    class User(flask_login.UserMixin):  # type: ignore[name-defined,misc]
        def __init__(self, user_id: str) -> None:
            self.id = user_id
            self.name = user_id.title()

    login_manager = flask_login.LoginManager(app)
    login_manager.user_loader(User)

    @app.route("/login/<name>")
    def login(name: str) -> str:
        flask_login.login_user(User(name))
        return "logged in"

    @socketio.on("connect")
    def connect() -> Any:
        if not flask_login.current_user.is_authenticated:
            return False
        emit("my response", {"message": f"{flask_login.current_user.name} has joined"})
        return None

    anonymous = socketio.test_client(app)
    assert not anonymous.is_connected()
    http = app.test_client()
    assert http.get("/login/ana").get_data(as_text=True) == "logged in"
    client = socketio.test_client(app, flask_test_client=http)
    assert client.is_connected()
    assert client.get_received() == [
        {"name": "my response", "args": [{"message": "Ana has joined"}], "namespace": "/"}
    ]


def test_each_event_has_its_own_request(app: Flask, socketio: SocketIO) -> None:
    """What a handler sets on request does not leak into the connection's next events."""

    @socketio.on("mark")
    def mark(value: str) -> Any:
        before = getattr(request, "mark", None)
        request.mark = value  # type: ignore[attr-defined]
        return [before, request.event["args"][0]]

    client = socketio.test_client(app)
    assert client.emit("mark", "first", callback=True) == [None, "first"]
    assert client.emit("mark", "second", callback=True) == [None, "second"]
