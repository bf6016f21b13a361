"""nginx for real in front of turbosio: TLS at nginx, the official client through it over
polling, WebSocket and upgrade, under a path prefix, and the client's address from
X-Forwarded-For (believed from the trusted proxy only).

The nginx configuration is the one docs/deployment.md shows, with this test's ports,
certificate and temporary paths put in: if the documented configuration breaks, this fails.
nginx runs as a child process with its own config in a temporary directory, on 127.0.0.1
ports; it reaches turbosio from 127.0.0.3 (``proxy_bind``), the one trusted proxy, so the
address turbosio reports (127.0.0.1, the client's) can only have come from the header.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ServerProcess, missing, wait_for

ROOT = Path(__file__).resolve().parents[2]
PROXY_ADDRESS = "127.0.0.3"


def _nginx() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if found is None:
        missing("nginx is not installed (`make test` installs it: apt-get install nginx)")
    assert found is not None
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def documented_config() -> str:
    """The nginx block of docs/deployment.md."""
    text = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```nginx\n(.*?)```", text, re.DOTALL)
    assert blocks, "docs/deployment.md has no nginx configuration"
    return str(blocks[0])


def nginx_config(
    backend_port: int, tls_port: int, plain_port: int, cert: Path, key: Path, tmp: Path
) -> str:
    """The documented configuration with this test's ports and files."""
    site = documented_config()
    replacements = [
        ("    server 127.0.0.1:5000;\n    server 127.0.0.1:5001;\n",
         f"    server 127.0.0.1:{backend_port};\n"),
        ("listen 80;", f"listen 127.0.0.1:{plain_port};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{tls_port} ssl;"),
        ("/etc/letsencrypt/live/chat.example.com/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/chat.example.com/privkey.pem", str(key)),
        # The test's one addition: nginx reaches turbosio from the trusted proxy address.
        ("proxy_http_version 1.1;", f"proxy_http_version 1.1; proxy_bind {PROXY_ADDRESS};"),
    ]  # fmt: skip
    for old, new in replacements:
        assert old in site, f"the documented nginx config no longer has {old!r}"
        site = site.replace(old, new)
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {name}_temp_path {tmp / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\ndaemon off;\nmaster_process off;\n"
        f"pid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n    access_log {tmp / 'access.log'};\n{temp}\n{site}\n}}\n"
    )


@pytest.fixture(scope="module")
def proxied(
    certificate: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    """turbosio (trusting 127.0.0.3 only) behind nginx; yields it and nginx's https URL."""
    nginx = _nginx()
    backend = ServerProcess(["--trusted-proxies", PROXY_ADDRESS])
    tmp = tmp_path_factory.mktemp("nginx")
    tls_port, plain_port = _free_port(), _free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(
        nginx_config(backend.port, tls_port, plain_port, *certificate, tmp), encoding="utf-8"
    )
    proc = subprocess.Popen(
        [nginx, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        if proc.poll() is not None:
            return True
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", tls_port)) == 0

    try:
        wait_for(listening)
        if proc.poll() is not None:
            log = (tmp / "error.log").read_text(errors="replace")
            pytest.fail(f"nginx did not start:\n{log}")
        yield backend, f"https://127.0.0.1:{tls_port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        backend.stop()


MODES = {
    "polling": {"transports": ["polling"]},
    "websocket": {"transports": ["websocket"]},
    "upgrade": {"waitUpgrade": True},
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_js_client_through_nginx(
    mode: str,
    proxied: tuple[ServerProcess, str],
    certificate: tuple[Path, Path],
    js_client: Callable[..., Any],
) -> None:
    _, url = proxied
    seen = js_client("whoami", url, MODES[mode], ca=certificate[0])
    who = seen["whoami"]
    assert who["peer"] == PROXY_ADDRESS  # the connection came from nginx
    assert who["address"] == "127.0.0.1"  # the client's, from X-Forwarded-For
    assert who["secure"] is True  # TLS ended at nginx: X-Forwarded-Proto
    assert seen["transport"] == ("polling" if mode == "polling" else "websocket")
    if mode == "upgrade":
        assert seen["first"] == "polling"  # and the upgrade went through nginx


def test_path_prefix(
    proxied: tuple[ServerProcess, str],
    certificate: tuple[Path, Path],
    js_client: Callable[..., Any],
) -> None:
    _, url = proxied
    seen = js_client(
        "whoami", url, {"path": "/chat/socket.io/", "waitUpgrade": True}, certificate[0]
    )
    assert (seen["first"], seen["transport"]) == ("polling", "websocket")
    assert seen["whoami"]["address"] == "127.0.0.1"


def test_a_forged_header_is_not_believed(
    proxied: tuple[ServerProcess, str],
    certificate: tuple[Path, Path],
    js_client: Callable[..., Any],
) -> None:
    backend, url = proxied
    forged = {"transports": ["polling"], "extraHeaders": {"X-Forwarded-For": "203.0.113.9"}}
    # Through nginx: nginx appends the real address after the forged one; that one counts.
    who = js_client("whoami", url, forged, ca=certificate[0])["whoami"]
    assert who["forwarded_for"] == "203.0.113.9, 127.0.0.1"
    assert who["address"] == "127.0.0.1"
    # Straight to turbosio, from a peer that is not a trusted proxy: the header is ignored.
    who = js_client("whoami", backend.url, forged)["whoami"]
    assert (who["peer"], who["address"]) == ("127.0.0.1", "127.0.0.1")
    assert "Traceback" not in backend.log
