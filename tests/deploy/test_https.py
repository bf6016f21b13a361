"""HTTPS directly: ``sio.run(ssl_certfile=, ssl_keyfile=)`` with a self-signed certificate
made by the test, and the official JavaScript client trusting it (NODE_EXTRA_CA_CERTS)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import ServerProcess

TRANSPORTS = {
    "polling": {"transports": ["polling"]},
    "websocket": {"transports": ["websocket"]},
    "upgrade": {"waitUpgrade": True},
}


@pytest.mark.parametrize("mode", sorted(TRANSPORTS))
def test_js_client_over_https(
    mode: str,
    certificate: tuple[Path, Path],
    start_server: Callable[..., ServerProcess],
    js_client: Callable[..., Any],
) -> None:
    cert, key = certificate
    server = start_server("--certfile", str(cert), "--keyfile", str(key))
    assert server.scheme == "https"
    seen = js_client("whoami", server.url, TRANSPORTS[mode], ca=cert)
    assert seen["whoami"]["secure"] is True
    assert seen["whoami"]["address"] == "127.0.0.1"
    assert seen["transport"] == ("polling" if mode == "polling" else "websocket")
    if mode == "upgrade":
        assert seen["first"] == "polling"


def test_untrusted_certificate_is_refused_by_the_client(
    certificate: tuple[Path, Path],
    start_server: Callable[..., ServerProcess],
    js_client: Callable[..., Any],
) -> None:
    # Without the CA the official client does not connect: the TLS is real, not decoration.
    cert, key = certificate
    server = start_server("--certfile", str(cert), "--keyfile", str(key))
    seen = js_client("refused", server.url, {"transports": ["websocket"]})
    assert seen["connected"] is False
    assert "Connection refused" not in server.log  # the server did not refuse anything itself


def test_turbosio_run_with_ssl_options(
    certificate: tuple[Path, Path],
    start_server: Callable[..., ServerProcess],
    js_client: Callable[..., Any],
    tmp_path: Path,
) -> None:
    # `turbosio run main:sio --ssl-certfile --ssl-keyfile`, as docs/deployment.md shows it.
    (tmp_path / "main.py").write_text("import turbosio\n\nsio = turbosio.Server()\n")
    launcher = tmp_path / "turbosio_command.py"
    launcher.write_text("from turbosio.cli import main\n\nraise SystemExit(main())\n")
    cert, key = certificate
    server = start_server(
        "run", "main:sio", "--app-dir", str(tmp_path), "--port", "0",
        "--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
        script=launcher,
    )  # fmt: skip
    assert server.scheme == "https"
    seen = js_client("refused", server.url, {"transports": ["websocket"]}, ca=cert)
    assert seen == {"connected": True}
