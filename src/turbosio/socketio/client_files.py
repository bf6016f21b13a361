"""Serving the official JavaScript client bundle, as Node's ``serveClient`` does.

``turbosio.Server(serve_client=True)`` (the default) answers ``GET <path>/socket.io.js`` and
the other builds in :data:`CLIENT_FILES` from the ``dist/`` folder of an installed npm
``socket.io-client``. turbosio ships no JavaScript itself, so the folder is looked up, first
match wins:

1. the ``client_dir`` option of the Server;
2. the ``TURBOSIO_CLIENT_DIR`` environment variable;
3. ``node_modules/socket.io-client/dist`` in the working directory or any directory above it
   (where ``npm install socket.io-client`` in the project puts it).

A folder given explicitly (1 or 2) may be the ``dist/`` folder itself or the package folder
that holds it. When none is found the client paths answer 404, and a page can fall back to a
CDN build.

The answers follow Node's ``Server.serve()``: the ETag is the client package's version in
quotes (a matching ``If-None-Match``, weak or strong, gets an empty 304),
``Cache-Control: public, max-age=0`` makes browsers revalidate every time, the type is
``application/javascript`` (``application/json`` for source maps), and the body is compressed
with gzip or deflate when the browser accepts it (Node also offers Brotli, which the standard
library lacks). Files are read once and kept in memory with their compressed forms.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zlib
from pathlib import Path

from ..engineio.io import Headers, Request

__all__ = ["CLIENT_FILES", "ENV_VAR", "ClientFiles", "find_client_dir"]

logger = logging.getLogger("turbosio.server")

#: The file names served under the Socket.IO path (Node's list).
CLIENT_FILES = frozenset(
    {
        "socket.io.js",
        "socket.io.js.map",
        "socket.io.min.js",
        "socket.io.min.js.map",
        "socket.io.esm.min.js",
        "socket.io.esm.min.js.map",
        "socket.io.msgpack.min.js",
        "socket.io.msgpack.min.js.map",
    }
)

#: The environment variable naming the client's folder when the option does not.
ENV_VAR = "TURBOSIO_CLIENT_DIR"

_NOT_FOUND: tuple[int, Headers, bytes] = (404, [("Content-Type", "text/plain")], b"Not Found")


def _dist_of(folder: Path) -> Path | None:
    """``folder`` if it holds the bundle, or its ``dist/`` if that does."""
    for candidate in (folder, folder / "dist"):
        if (candidate / "socket.io.js").is_file():
            return candidate
    return None


def find_client_dir(client_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The ``dist/`` folder of socket.io-client to serve, or None when there is none.

    Looks at ``client_dir``, then ``$TURBOSIO_CLIENT_DIR``, then
    ``node_modules/socket.io-client/dist`` from the working directory upward. A ``client_dir``
    given explicitly that holds no ``socket.io.js`` raises ``ValueError``; a bad environment
    variable is logged and the search goes on.
    """
    if client_dir is not None:
        found = _dist_of(Path(client_dir))
        if found is None:
            raise ValueError(
                f"client_dir={str(client_dir)!r} holds no socket.io.js: give the dist/ folder "
                "of an installed socket.io-client (npm install socket.io-client)"
            )
        return found.resolve()
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        found = _dist_of(Path(from_env))
        if found is not None:
            return found.resolve()
        logger.warning("%s=%s holds no socket.io.js; looking elsewhere", ENV_VAR, from_env)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        dist = folder / "node_modules" / "socket.io-client" / "dist"
        if (dist / "socket.io.js").is_file():
            return dist
    return None


def _version_etag(dist: Path) -> str | None:
    try:
        meta = json.loads((dist.parent / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = meta.get("version") if isinstance(meta, dict) else None
    # Per RFC 7232 an ETag is quoted; Node uses its package's version the same way.
    return f'"{version}"' if isinstance(version, str) and version else None


def _accepted_encoding(header: str) -> str | None:
    """The best of gzip and deflate that an ``Accept-Encoding`` header allows, if any."""
    weights: dict[str, float] = {}
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                weight = 0.0
        if name:
            weights[name.strip().lower()] = weight
    best: str | None = None
    best_weight = 0.0
    for name in ("gzip", "deflate"):  # on a tie the first wins, as in Node's negotiation
        weight = weights.get(name, weights.get("*", 0.0))
        if weight > best_weight:
            best, best_weight = name, weight
    return best


class ClientFiles:
    """Answers the client bundle requests of one Server (see the module docstring)."""

    def __init__(self, dist: Path | None) -> None:
        #: The folder served, or None: every client file answers 404.
        self.dist = dist
        self._etag = _version_etag(dist) if dist is not None else None
        self._cache: dict[tuple[str, str | None], bytes] = {}

    def handles(self, request: Request, filename: str) -> bool:
        """Answer ``request`` if ``filename`` is a client file asked for by GET or HEAD.

        Returns False, having answered nothing, for any other request, so the caller can
        hand it on (to the engine).
        """
        if filename not in CLIENT_FILES or request.method not in ("GET", "HEAD"):
            return False
        status, headers, body = self._answer(request, filename)
        request.respond(status, headers, b"" if request.method == "HEAD" else body)
        return True

    def _answer(self, request: Request, filename: str) -> tuple[int, Headers, bytes]:
        if self.dist is None:
            return _NOT_FOUND
        raw = self._read(filename, None)
        if raw is None:
            return _NOT_FOUND
        etag = self._etag or '"' + hashlib.sha1(raw).hexdigest()[:16] + '"'
        if request.headers.get("if-none-match") in (etag, "W/" + etag):
            return 304, [], b""
        kind = "json" if filename.endswith(".map") else "javascript"
        headers: Headers = [
            ("Cache-Control", "public, max-age=0"),
            ("Content-Type", f"application/{kind}; charset=utf-8"),
            ("ETag", etag),
        ]
        encoding = _accepted_encoding(request.headers.get("accept-encoding", ""))
        body = raw if encoding is None else self._read(filename, encoding)
        if encoding is not None and body is not None:
            headers.append(("Content-Encoding", encoding))
            # Node leaves Vary out; a shared cache needs it to keep the two bodies apart.
            headers.append(("Vary", "Accept-Encoding"))
        return 200, headers, body if body is not None else raw

    def _read(self, filename: str, encoding: str | None) -> bytes | None:
        key = (filename, encoding)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if encoding is None:
            assert self.dist is not None
            try:
                data = (self.dist / filename).read_bytes()
            except OSError:
                return None
        else:
            raw = self._read(filename, None)
            if raw is None:
                return None
            # wbits 31: a gzip wrapper; 15: a zlib wrapper, which is what HTTP calls deflate.
            packer = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
            data = packer.compress(raw) + packer.flush()
        self._cache[key] = data
        return data
