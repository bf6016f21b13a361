"""TLS: HTTPS and WSS through the same server, with a self-signed certificate made here by the
``openssl`` command-line tool."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from server_helpers import EchoApp, read_response
from websockets.asyncio.client import connect as ws_client

from turbosio.server import Server, serve


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        message = "!!! openssl not found: the TLS tests of the embedded server are skipped"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("tls")
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


@pytest.fixture
async def tls_server(app: EchoApp, certificate: tuple[Path, Path]) -> AsyncIterator[Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    srv = await serve(app, "127.0.0.1", 0, ssl=context)
    try:
        yield srv
    finally:
        srv.close()
        await asyncio.wait_for(srv.wait_closed(), 10)


@pytest.fixture
def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


async def test_https_request(tls_server: Server, client_context: ssl.SSLContext) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", tls_server.port, ssl=client_context)
    for i in range(2):  # keep-alive over TLS too
        writer.write(f"GET /echo?i={i} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        seen = json.loads((await read_response(reader)).body)
        assert (seen["scheme"], seen["query"]) == ("https", {"i": str(i)})
    writer.close()
    await writer.wait_closed()


async def test_wss_echo(app: EchoApp, tls_server: Server, client_context: ssl.SSLContext) -> None:
    uri = f"wss://127.0.0.1:{tls_server.port}/ws"
    async with ws_client(uri, ssl=client_context, compression=None) as ws:
        await ws.send("secure")
        assert await ws.recv() == "secure"
        await ws.send(b"\x00" * 300)
        assert await ws.recv() == b"\x00" * 300
    assert await asyncio.wait_for(app.closes.get(), 10) == 1000
    assert app.requests[0].scheme == "https"
