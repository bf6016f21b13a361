"""Flask-SocketIO's options, checked and turned into :class:`turbosio.Server` arguments."""

from __future__ import annotations

import logging
import os
import ssl as _ssl
from collections.abc import Callable
from typing import Any

import orjson

import flask

from ..protocol.socketio import has_binary

__all__ = [
    "ASYNC_MODES",
    "DEFAULT_CHANNEL",
    "MESSAGE_QUEUE_SCHEMES",
    "SERVER_OPTIONS",
    "SSL_OPTIONS",
    "JsonHook",
    "check_options",
    "core_options",
    "default_port",
    "message_queue",
    "named_logger",
    "ssl_context",
]

#: The options ``SocketIO(app, **options)`` accepts.
SERVER_OPTIONS = frozenset(
    {
        "cors_allowed_origins",
        "cors_credentials",
        "ping_interval",
        "ping_timeout",
        "max_http_buffer_size",
        "transports",
        "allow_upgrades",
        "cookie",
        "path",
        "resource",
        "logger",
        "engineio_logger",
        "serializer",
        "json",
        "async_handlers",
        "always_connect",
        "namespaces",
        "manage_session",
        "message_queue",
        "channel",
        "async_mode",
        "http_compression",
        "compression_threshold",
        "monitor_clients",
        "thread_pool_size",
    }
)
#: Flask-SocketIO's async modes: all accepted, none changes anything (turbosio has its own).
ASYNC_MODES = (None, "threading", "eventlet", "gevent", "gevent_uwsgi")


#: Flask-SocketIO's default ``channel``: the key of turbosio's Redis channels (a cluster with
#: Node servers or Node's emitter needs ``channel="socket.io"``, their default key).
DEFAULT_CHANNEL = "flask-socketio"
#: The ``message_queue`` URLs turbosio.flask accepts: Redis only.
MESSAGE_QUEUE_SCHEMES = ("redis://", "rediss://", "unix://")


#: ``socketio.run`` keyword arguments that configure TLS (Flask-SocketIO's eventlet names).
SSL_OPTIONS = frozenset(
    {"certfile", "keyfile", "ca_certs", "cert_reqs", "ssl_version", "ciphers", "ssl_context"}
)


def check_options(options: dict[str, Any]) -> None:
    """Refuse, with :class:`TypeError`, options turbosio.flask does not know."""
    unknown = sorted(set(options) - SERVER_OPTIONS)
    if unknown:
        raise TypeError(
            f"SocketIO() got unknown option(s) {', '.join(unknown)}; turbosio.flask "
            f"accepts: {', '.join(sorted(SERVER_OPTIONS))}"
        )


def message_queue(opts: dict[str, Any]) -> tuple[str, str] | None:
    """``(url, channel)`` from ``message_queue=`` and ``channel=`` (None without a queue).

    Raises :class:`ValueError` for a URL that is not Redis's: Flask-SocketIO's other queues
    (Kafka, ZeroMQ, RabbitMQ and the rest of Kombu's) have no Node-compatible format here.
    """
    url = opts.get("message_queue")
    if not url:
        return None
    if not isinstance(url, str):
        raise TypeError(f"message_queue must be a URL string, not {type(url).__name__}")
    if not url.lower().startswith(MESSAGE_QUEUE_SCHEMES):
        # Only the scheme is shown: the rest of a URL may hold a password.
        scheme = url.split("://", 1)[0] if "://" in url else url.split(":", 1)[0]
        raise ValueError(
            f"message_queue {scheme!r}: turbosio.flask supports Redis only, with a redis://, "
            "rediss:// or unix:// URL (Flask-SocketIO's Kafka, ZeroMQ and Kombu queues such "
            "as amqp:// are not supported)"
        )
    channel = opts.get("channel") or DEFAULT_CHANNEL
    if not isinstance(channel, str):
        raise TypeError(f"channel must be a string, not {type(channel).__name__}")
    return url, channel


def core_options(opts: dict[str, Any]) -> dict[str, Any]:
    """The :class:`turbosio.Server` arguments for Flask-SocketIO's ``opts``."""
    core: dict[str, Any] = {}
    origins = opts.get("cors_allowed_origins")
    if origins == [] or origins == ():
        # Flask-SocketIO: [] disables CORS handling (a proxy in front does it).
        core["cors_allowed_origins"] = lambda origin: True
    elif origins == "*" or (isinstance(origins, (list, tuple)) and "*" in origins):
        core["cors_allowed_origins"] = "*"
    elif isinstance(origins, str):
        core["cors_allowed_origins"] = [origins]
    else:
        core["cors_allowed_origins"] = origins
    if "cors_credentials" in opts:
        core["cors_credentials"] = bool(opts["cors_credentials"])
    interval = opts.get("ping_interval", 25)
    core["ping_interval"] = interval[0] if isinstance(interval, tuple) else interval
    core["ping_timeout"] = opts.get("ping_timeout", 20)
    core["max_http_buffer_size"] = opts.get("max_http_buffer_size", 1_000_000)
    transports = opts.get("transports")
    if transports:
        core["transports"] = [transports] if isinstance(transports, str) else transports
    if "allow_upgrades" in opts:
        core["allow_upgrades"] = bool(opts["allow_upgrades"])
    path = opts.get("path") or opts.get("resource") or "socket.io"
    core["path"] = "/" + path.strip("/")
    cookie = opts.get("cookie")
    if isinstance(cookie, str):
        core["cookie"] = {"name": cookie}
    elif isinstance(cookie, dict):
        core["cookie"] = {
            key.lower().replace("samesite", "same_site").replace("httponly", "http_only"): (
                value() if callable(value) else value
            )
            for key, value in cookie.items()
        }
    serializer = opts.get("serializer", "default")
    if serializer == "msgpack":
        from ..protocol.msgpack import MsgpackParser

        core["parser"] = MsgpackParser()
    elif serializer != "default":
        raise ValueError(f'serializer {serializer!r}: turbosio supports "default" and "msgpack"')
    engine_logger = named_logger(opts.get("engineio_logger"), "turbosio.engineio")
    if engine_logger is not None:
        core["logger"] = engine_logger
    return core


def default_port(app: flask.Flask) -> int:
    """``socketio.run``'s port when none is given: ``TURBOSIO_PORT``, the port of the app's
    ``SERVER_NAME``, else 5000."""
    env = os.environ.get("TURBOSIO_PORT")
    if env:
        return int(env)
    server_name = app.config.get("SERVER_NAME")
    if server_name and ":" in server_name:
        return int(server_name.rsplit(":", 1)[1])
    return 5000


def named_logger(value: Any, name: str) -> logging.Logger | None:
    """Flask-SocketIO's ``logger=``: True logs at INFO to stderr, a Logger is used as is."""
    if isinstance(value, logging.Logger):
        return value
    if value:
        log = logging.getLogger(name)
        log.setLevel(logging.INFO)
        if not log.handlers and not logging.getLogger().handlers:
            log.addHandler(logging.StreamHandler())
        return log
    return None


class JsonHook:
    """``json=``: payloads go through the given module's ``dumps``/``loads`` (binary excepted)."""

    def __init__(self, module: Any, app: flask.Flask | None) -> None:
        self.module = module
        # flask.json needs an app context to find the app's JSON provider.
        self.app = app if module is flask.json else None

    def _round_trip(self, text: str | bytes, loads: Callable[[Any], Any]) -> Any:
        if self.app is not None:
            with self.app.app_context():
                return loads(text)
        return loads(text)

    def outgoing(self, data: list[Any]) -> list[Any]:
        """The arguments of an emit, as the module's JSON makes them."""
        if has_binary(data):
            return data
        dumps = self.module.dumps
        if self.app is not None:
            with self.app.app_context():
                text = dumps(data)
        else:
            text = dumps(data)
        result: list[Any] = self._round_trip(text, self.module.loads)
        return result

    def incoming(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """The arguments of an event a client sent, as the module's ``loads`` reads them."""
        if has_binary(args):
            return args
        result = self._round_trip(orjson.dumps(list(args)), self.module.loads)
        return tuple(result)


def ssl_context(options: dict[str, Any]) -> _ssl.SSLContext | None:
    """A server TLS context from ``socketio.run``'s TLS keyword arguments (None without)."""
    context = options.pop("ssl_context", None)
    if isinstance(context, _ssl.SSLContext):
        return context
    if isinstance(context, tuple):
        options.setdefault("certfile", context[0])
        options.setdefault("keyfile", context[1])
    elif context is not None:
        raise ValueError("ssl_context must be an ssl.SSLContext or a (certfile, keyfile) tuple")
    certfile = options.get("certfile")
    if not certfile:
        if any(options.values()):
            raise ValueError("TLS options need certfile (and keyfile)")
        return None
    protocol = options.get("ssl_version") or _ssl.PROTOCOL_TLS_SERVER
    ctx = _ssl.SSLContext(protocol)
    ctx.load_cert_chain(certfile, options.get("keyfile"))
    if options.get("ca_certs"):
        ctx.load_verify_locations(options["ca_certs"])
    if options.get("cert_reqs") is not None:
        ctx.verify_mode = options["cert_reqs"]
    if options.get("ciphers"):
        ctx.set_ciphers(options["ciphers"])
    return ctx
