"""The Flask integration over real sockets: the app's routes beside Socket.IO on one port,
handlers in threads, emits from routes and threads, acks both ways, the official JS client."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from conftest import NodeRunner, Serve, WireClient
from flask import Flask, jsonify, request, session
from turbosio.flask import ConnectionRefusedError, SocketIO, call, emit, join_room, rooms
from turbosio.flask.options import ssl_context

pytestmark = pytest.mark.timeout(60)


async def test_routes_static_files_and_socketio_share_the_port(
    app: Flask, socketio: SocketIO, serve: Serve
) -> None:
    """Flask routes (GET, POST with a body, 404) and static files are served next to the
    Socket.IO path, by the same server."""

    @app.route("/")
    def index() -> str:
        return "the index"

    @app.route("/echo", methods=["POST"])
    def echo() -> Any:
        return jsonify(body=request.get_data(as_text=True), query=request.args.get("q"))

    handle = await serve(socketio, app)
    async with aiohttp.ClientSession() as http:
        async with http.get(handle.url + "/") as resp:
            assert (resp.status, await resp.text()) == (200, "the index")
        async with http.post(handle.url + "/echo?q=1", data=b"payload") as resp:
            assert await resp.json() == {"body": "payload", "query": "1"}
        async with http.get(handle.url + "/static/hello.txt") as resp:
            assert (resp.status, await resp.text()) == (200, "static hello\n")
        async with http.get(handle.url + "/missing") as resp:
            assert resp.status == 404
        async with http.get(handle.url + "/socket.io/?EIO=4&transport=polling") as resp:
            assert (await resp.text()).startswith('0{"sid":')


async def test_route_exception_is_a_500(app: Flask, socketio: SocketIO, serve: Serve) -> None:
    @app.route("/fail")
    def fail() -> str:
        raise RuntimeError("route failed")

    handle = await serve(socketio, app)
    async with aiohttp.ClientSession() as http, http.get(handle.url + "/fail") as resp:
        assert resp.status == 500


async def test_handlers_run_in_threads_with_their_context(
    app: Flask, socketio: SocketIO, serve: Serve, wire: Any
) -> None:
    """Handlers are plain functions run in a thread pool, not on the event loop, with
    request.sid (the socket's id, as the CONNECT reply gives it) and the Flask session."""

    @app.route("/login")
    def login() -> str:
        session["user"] = "ana"
        return "ok"

    @socketio.on("where")
    def where() -> dict[str, Any]:
        return {
            "thread": threading.current_thread().name,
            "sid": request.sid,
            "user": session.get("user"),
        }

    handle = await serve(socketio, app)
    async with aiohttp.ClientSession() as http, http.get(handle.url + "/login") as resp:
        cookie = resp.headers["Set-Cookie"].split(";")[0]
    client: WireClient = await wire(handle.url, headers={"Cookie": cookie})
    reply = await client.connect()
    sid = reply[2:].split('"sid":"')[1].split('"')[0]
    await client.emit("where", ack=1)
    answer = str(await client.recv())
    assert answer.startswith("431[")
    assert f'"sid":"{sid}"' in answer
    assert '"user":"ana"' in answer
    assert "turbosio-flask" in answer
    assert threading.current_thread().name not in answer


async def test_emits_from_a_handler_thread_keep_their_order(
    app: Flask, socketio: SocketIO, serve: Serve, wire: Any
) -> None:
    @socketio.on("count")
    def count(n: int) -> str:
        for i in range(n):
            emit("n", i)
        return "done"

    handle = await serve(socketio, app)
    client: WireClient = await wire(handle.url)
    await client.connect()
    await client.emit("count", 200, ack=7)
    got = [(await client.event())[1] for _ in range(200)]
    assert got == list(range(200))
    assert await client.recv() == '437["done"]'


async def test_emit_from_a_route_and_a_background_thread(
    app: Flask, socketio: SocketIO, serve: Serve, wire: Any
) -> None:
    """socketio.emit works from an HTTP route and from start_background_task threads."""

    @app.route("/notify/<text>")
    def notify(text: str) -> str:
        socketio.emit("note", text)
        return "sent"

    @socketio.on("start")
    def start(n: int) -> None:
        def worker() -> None:
            for i in range(n):
                socketio.emit("tick", i, to=sid)

        sid = request.sid
        socketio.start_background_task(worker)

    handle = await serve(socketio, app)
    client: WireClient = await wire(handle.url)
    await client.connect()
    async with aiohttp.ClientSession() as http, http.get(handle.url + "/notify/hi") as resp:
        assert await resp.text() == "sent"
    assert await client.event() == ["note", "hi"]
    await client.emit("start", 50)
    assert [(await client.event())[1] for _ in range(50)] == list(range(50))


async def test_callback_and_call_wait_for_the_client(
    app: Flask, socketio: SocketIO, serve: Serve, wire: Any
) -> None:
    """emit(callback=) calls back with the client's answer inside the emitting client's
    context; call() waits for the answer in the handler thread."""
    answers: list[Any] = []

    @socketio.on("ask")
    def ask() -> None:
        def got(*args: Any) -> None:
            answers.append((request.sid, args))
            emit("thanks", list(args))

        emit("question", "ready?", callback=got)

    @socketio.on("poll")
    def poll() -> Any:
        return call("vote", "yes or no?", timeout=5)

    @socketio.on("poll-timeout")
    def poll_timeout() -> str:
        try:
            call("vote", "no answer", timeout=0.2)
        except TimeoutError:
            return "timed out"
        return "answered?"

    handle = await serve(socketio, app)
    client: WireClient = await wire(handle.url)
    reply = await client.connect()
    sid = reply.split('"sid":"')[1].split('"')[0]
    await client.emit("ask")
    question = str(await client.recv())
    assert question.startswith("421") and question.endswith('["question","ready?"]')
    ack_id = question[2 : question.index("[")]
    await client.send(f"43{ack_id}" + '["sure",1]')
    assert await client.event() == ["thanks", ["sure", 1]]
    assert answers == [(sid, ("sure", 1))]

    await client.emit("poll", ack=5)
    vote = str(await client.recv())
    vote_id = vote[2 : vote.index("[")]
    await client.send(f"43{vote_id}" + '["yes"]')
    assert await client.recv() == '435["yes"]'

    await client.emit("poll-timeout", ack=6)
    assert str(await client.recv()).endswith('["vote","no answer"]')
    assert await client.recv() == '436["timed out"]'


async def test_rooms_from_threads_see_their_own_joins(
    app: Flask, socketio: SocketIO, serve: Serve, wire: Any
) -> None:
    @socketio.on("join")
    def join(room: str) -> list[str]:
        join_room(room)
        emit("in-room", room, to=room)
        return rooms()

    handle = await serve(socketio, app)
    client: WireClient = await wire(handle.url)
    await client.connect()
    await client.emit("join", "blue", ack=2)
    assert await client.event() == ["in-room", "blue"]
    answer = str(await client.recv())
    assert answer.startswith("432[") and '"blue"' in answer


async def test_refused_connection_gets_message_and_data(
    app: Flask, socketio: SocketIO, serve: Serve, wire: Any
) -> None:
    @socketio.on("connect")
    def connect(auth: Any) -> None:
        if not auth or auth.get("token") != "ok":
            raise ConnectionRefusedError("unauthorized!", {"hint": "token"})

    handle = await serve(socketio, app)
    client: WireClient = await wire(handle.url)
    assert await client.connect(auth={"token": "bad"}) == (
        '44{"message":"unauthorized!","data":{"hint":"token"}}'
    )
    assert (await client.connect(auth={"token": "ok"})).startswith('40{"sid":')


async def test_close_waits_for_running_handlers(
    app: Flask, socketio: SocketIO, serve: Serve, wire: Any
) -> None:
    """Closing the server disconnects clients ("server disconnect" for the handlers)."""
    reasons: list[str] = []

    @socketio.on("disconnect")
    def gone(reason: str) -> None:
        reasons.append(reason)

    handle = await serve(socketio, app)
    client: WireClient = await wire(handle.url)
    await client.connect()
    await handle.close()
    assert reasons == [SocketIO.reason.SERVER_DISCONNECT]


@pytest.mark.js
async def test_official_client_features(
    app: Flask, socketio: SocketIO, serve: Serve, js_clients: NodeRunner
) -> None:
    """socket.io-client 4.5.4: refusal with data, acks, rooms, callbacks, call()."""

    @socketio.on("connect")
    def connect(auth: Any) -> None:
        if (auth or {}).get("token") != "secret":
            raise ConnectionRefusedError("bad token", {"retry": False})

    @socketio.on("whoami")
    def whoami() -> str:
        return str(request.sid)

    @socketio.on("join")
    def join(room: str) -> list[str]:
        join_room(room)
        return rooms()

    @socketio.on("to-room")
    def to_room(room: str, text: str) -> str:
        emit("news", text, to=room)
        return "sent"

    @socketio.on("ask-me")
    def ask_me(question: str) -> str:
        def answered(answer: str) -> None:
            emit("answered", answer)

        emit("question", question, callback=answered)
        return "asked"

    @socketio.on("call-me")
    def call_me(question: str) -> Any:
        return call("poll", question, timeout=5)

    handle = await serve(socketio, app)
    result = await js_clients("features", handle.url)
    assert result["refused"] == {"message": "bad token", "data": {"retry": False}}
    assert result["whoami"] == [result["aId"]]
    assert result["roomsA"] == [[result["aId"], "lobby"]]
    assert result["lobbyNews"] == ["hi lobby"]
    assert result["answer"] == ["answer to life"]
    # call() gave a tuple (two answers), which the handler returned: two ack arguments.
    assert result["polled"] == ["yes", "ready?"]


@pytest.mark.js
@pytest.mark.parametrize("transport", ["polling", "websocket", "default"])
async def test_seed_app_broadcast_to_three_official_clients(
    app: Flask, socketio: SocketIO, serve: Serve, js_clients: NodeRunner, transport: str
) -> None:
    """The seed's handler with three socket.io-client 4.5.4 clients: each gets every
    broadcast."""

    @socketio.on("message")
    def handle_message(data: Any) -> None:
        emit("response", {"msg": data}, broadcast=True)

    handle = await serve(socketio, app)
    result = await js_clients("broadcast", handle.url, "3", transport)
    expected = [{"msg": f"hello from {i}"} for i in range(3)]
    for received in result["received"]:
        assert sorted(received, key=lambda m: m["msg"]) == expected
    final = "polling" if transport == "polling" else "websocket"
    assert result["transports"] == [final] * 3


async def test_asgi_app_under_a_real_asgi_server(app: Flask, socketio: SocketIO) -> None:
    """socketio.asgi(app) serves the routes (through a2wsgi) and Socket.IO under uvicorn."""
    uvicorn = pytest.importorskip("uvicorn")

    @app.route("/hello")
    def hello() -> str:
        return "hello over asgi"

    @socketio.on("ping")
    def ping() -> str:
        return "pong"

    config = uvicorn.Config(
        socketio.asgi(app), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http, http.get(url + "/hello") as resp:
            assert await resp.text() == "hello over asgi"
        client = await WireClient.open(url)
        try:
            await client.connect()
            await client.emit("ping", ack=3)
            assert await client.recv() == '433["pong"]'
        finally:
            await client.close()
    finally:
        await socketio.server.shutdown(1)
        server.should_exit = True
        await task


async def test_debug_mode_shows_the_werkzeug_debugger(
    app: Flask, socketio: SocketIO, serve: Serve
) -> None:
    """debug=True puts Werkzeug's debugger on the app's routes, as Flask-SocketIO does."""

    @app.route("/fail")
    def fail() -> str:
        raise RuntimeError("debug me")

    handle = await serve(socketio, app, debug=True)
    async with aiohttp.ClientSession() as http, http.get(handle.url + "/fail") as resp:
        page = await resp.text()
    assert resp.status == 500
    assert "RuntimeError: debug me" in page
    assert "Werkzeug Debugger" in page


def make_certificate(folder: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        message = "!!! openssl not found: the Flask TLS test is skipped"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_from_run_options(
    app: Flask, socketio: SocketIO, serve: Serve, tmp_path: Path
) -> None:
    """run()'s certfile/keyfile make the context; routes and Socket.IO answer over TLS."""
    cert, key = make_certificate(tmp_path)
    context = ssl_context({"certfile": str(cert), "keyfile": str(key)})
    assert context is not None
    assert ssl_context({}) is None
    with pytest.raises(ValueError, match="certfile"):
        ssl_context({"keyfile": str(key)})

    @app.route("/secure")
    def secure() -> str:
        return f"scheme={request.scheme}"

    @socketio.on("ping")
    def ping() -> str:
        return "pong"

    handle = await serve(socketio, app, ssl=context)
    assert handle.url.startswith("https://")
    client_context = ssl.create_default_context(cafile=str(cert))
    async with aiohttp.ClientSession() as http:
        async with http.get(handle.url + "/secure", ssl=client_context) as resp:
            assert await resp.text() == "scheme=https"
        ws_url = handle.url.replace("https", "wss") + "/socket.io/?EIO=4&transport=websocket"
        async with http.ws_connect(ws_url, ssl=client_context) as ws:
            assert (await ws.receive_str(timeout=5)).startswith("0{")
            await ws.send_str("40")
            assert (await ws.receive_str(timeout=5)).startswith("40{")
            await ws.send_str('421["ping"]')
            assert await ws.receive_str(timeout=5) == '431["pong"]'
