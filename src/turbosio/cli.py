"""The ``turbosio`` command: serve an app (``turbosio run``) or the demo (``turbosio demo``).

``turbosio run MODULE:ATTR`` imports ``MODULE`` (from ``--app-dir``, the current directory by
default) and serves ``ATTR``, which may be:

* a :class:`turbosio.Server`: served by the embedded server (``sio.run``);
* an ASGI 3 application (``sio.asgi(...)``, FastAPI, Starlette, ...): served by uvicorn,
  which comes with the ``turbosio[asgi]`` extra;
* a Flask app with a :class:`turbosio.flask.SocketIO` attached (or that ``SocketIO``): its
  routes and Socket.IO served together by the embedded server (``socketio.run(app)``).

``ATTR`` may be dotted (``main:app.state.sio``). ``python -m turbosio`` is the same command.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .asgi import ASGIApp
from .exceptions import TurbosioError

__all__ = ["AppLoadError", "describe_app", "load_app", "main"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class AppLoadError(TurbosioError):
    """``MODULE:ATTR`` names nothing turbosio can serve; the message says what to fix."""


def load_app(target: str, app_dir: str | None = ".") -> Any:
    """Import ``MODULE:ATTR`` and return the object it names.

    ``app_dir`` is put first on ``sys.path`` (as uvicorn's ``--app-dir`` does). Raises
    :class:`AppLoadError` for a malformed target, a module that is not there, or a missing
    attribute; an exception raised while the module runs propagates unchanged.
    """
    module_name, sep, attrs = target.partition(":")
    if not sep or not module_name or not attrs:
        raise AppLoadError(f'Expected "MODULE:ATTR" (for example "app:sio"), got "{target}".')
    if app_dir is not None:
        path = os.path.abspath(app_dir)
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only a missing target module is our user's typo; a missing dependency of that
        # module is a different problem and is reported as such.
        if exc.name is None or not _is_prefix(exc.name, module_name):
            raise AppLoadError(f'Error importing "{module_name}": {exc}.') from exc
        where = os.path.abspath(app_dir) if app_dir is not None else "sys.path"
        raise AppLoadError(
            f'Could not import module "{module_name}" (looked in {where}; '
            "use --app-dir to look elsewhere)."
        ) from exc
    obj: Any = module
    for attr in attrs.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise AppLoadError(
                f'Attribute "{attrs}" not found in module "{module_name}".'
            ) from None
    return obj


def _is_prefix(missing: str, module_name: str) -> bool:
    return module_name == missing or module_name.startswith(missing + ".")


def describe_app(obj: Any) -> str:
    """What ``obj`` is to ``turbosio run``: ``"server"``, ``"asgi"`` or ``"flask"``.

    Raises :class:`AppLoadError` for anything else, naming what was found.
    """
    import turbosio

    server_class = getattr(turbosio, "Server", None)
    if server_class is not None and isinstance(obj, server_class):
        return "server"
    flask_ext = sys.modules.get("turbosio.flask")
    socketio_class = getattr(flask_ext, "SocketIO", None)
    if socketio_class is not None and isinstance(obj, socketio_class):
        return "flask"
    if _is_flask_app(obj):
        extensions = getattr(obj, "extensions", None) or {}
        attached = extensions.get("socketio")
        if socketio_class is not None and isinstance(attached, socketio_class):
            return "flask"
        raise AppLoadError(
            "This is a Flask app without a turbosio.flask.SocketIO: create one with "
            "`socketio = SocketIO(app)` (from turbosio.flask import SocketIO)."
        )
    if _is_asgi3(obj):
        return "asgi"
    kind = type(obj).__name__ if not isinstance(obj, type) else f"class {obj.__name__}"
    raise AppLoadError(
        f"Expected a turbosio.Server, an ASGI app (async def app(scope, receive, send)) or a "
        f"Flask app with a turbosio.flask.SocketIO; got {kind} {obj!r:.80}."
    )


def _is_flask_app(obj: Any) -> bool:
    return any(
        cls.__name__ == "Flask" and cls.__module__.split(".")[0] == "flask"
        for cls in type(obj).__mro__
    )


def _is_asgi3(obj: Any) -> bool:
    if isinstance(obj, type):
        return False
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(type(obj), "__call__", None)  # noqa: B004 - the class's, not the instance's
    return call is not None and inspect.iscoroutinefunction(call)


def serve(
    obj: Any,
    host: str,
    port: int,
    log_level: str = "info",
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> None:
    """Serve ``obj`` (see :func:`describe_app`) on ``host:port`` until Ctrl-C; over HTTPS
    with ``ssl_certfile`` (PEM certificate and chain) and ``ssl_keyfile`` (its key)."""
    kind = describe_app(obj)
    # The embedded server and uvicorn name the TLS options alike.
    tls = {"ssl_certfile": ssl_certfile, "ssl_keyfile": ssl_keyfile} if ssl_certfile else {}
    if ssl_keyfile and not ssl_certfile:
        raise AppLoadError("--ssl-keyfile needs --ssl-certfile (the certificate).")
    if kind == "server":
        obj.run(host=host, port=port, **tls)
    elif kind == "asgi":
        _serve_asgi(obj, host, port, log_level, tls)
    else:
        _serve_flask(obj, host, port, tls)


def _serve_flask(obj: Any, host: str, port: int, tls: dict[str, Any] | None = None) -> None:
    from .flask import SocketIO  # already imported: describe_app found it

    # A Flask app (its SocketIO is in app.extensions) or the SocketIO object itself.
    socketio = obj if isinstance(obj, SocketIO) else obj.extensions["socketio"]
    app = obj if socketio is not obj else socketio.app
    if app is None:
        raise AppLoadError("This SocketIO has no Flask app: call socketio.init_app(app) first.")
    # No reloader here (the command is the process to stop), and the command's own logging.
    # Flask-SocketIO's names for the TLS options.
    ssl = {"certfile": tls["ssl_certfile"], "keyfile": tls["ssl_keyfile"]} if tls else {}
    socketio.run(app, host=host, port=port, use_reloader=False, **ssl)


def _serve_asgi(
    app: Any, host: str, port: int, log_level: str, tls: dict[str, Any] | None = None
) -> None:
    try:
        import uvicorn
    except ImportError:
        raise AppLoadError(
            "Serving an ASGI app needs uvicorn: pip install 'turbosio[asgi]'."
        ) from None
    # uvicorn waits for open requests before its lifespan shutdown, and a held long-poll is
    # answered only at the next ping: tell turbosio first (when the app is a turbosio app),
    # so its clients get their close packets and uvicorn stops at once.
    engine_app = app.app if isinstance(app, ASGIApp) else None
    before_shutdown = getattr(engine_app, "shutdown", None)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            if before_shutdown is not None:
                try:
                    await before_shutdown()
                except Exception:
                    logging.getLogger("turbosio").exception("error while shutting down")
            await super().shutdown(sockets)

    Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, **(tls or {}))).run()


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="turbosio: a fast Socket.IO server for Python."
    )
    parser.add_argument("--version", action="version", version=f"turbosio {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
        sub.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
        sub.add_argument("--log-level", default="info", choices=LOG_LEVELS, help="default info")

    run = commands.add_parser(
        "run",
        help="serve MODULE:ATTR (a turbosio.Server, an ASGI app or a Flask app)",
        description="Serve MODULE:ATTR: a turbosio.Server or a Flask app with a "
        "turbosio.flask.SocketIO (embedded server), or an ASGI app (uvicorn, from the "
        "turbosio[asgi] extra).",
    )
    run.add_argument("target", metavar="MODULE:ATTR", help='for example "app:sio"')
    common(run)
    run.add_argument("--app-dir", default=".", help="directory to import MODULE from (default: .)")
    run.add_argument("--ssl-certfile", help="serve HTTPS: PEM certificate (with its chain)")
    run.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    demo = commands.add_parser(
        "demo",
        help="run the demo site (chat, quiz, whiteboard, dashboard)",
        description="Run the demo site: an index at / and the chat, quiz, whiteboard and "
        "dashboard demos.",
    )
    common(demo)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "turbosio") -> int:
    """Run the command line; returns the exit status (0, 1 on an error, 2 on bad usage)."""
    args = _parser(prog).parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(levelname)s:     %(message)s", force=False
    )
    try:
        if args.command == "demo":
            from .demo import create_server

            create_server().run(host=args.host, port=args.port)
        else:
            obj = load_app(args.target, args.app_dir)
            serve(obj, args.host, args.port, args.log_level, args.ssl_certfile, args.ssl_keyfile)
    except AppLoadError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
