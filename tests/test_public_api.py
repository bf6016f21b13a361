"""The public names other work relies on (shared/DESIGN.md), and a light import."""

from __future__ import annotations

import subprocess
import sys

import turbosio


def test_all_names_exist_and_are_documented() -> None:
    for name in turbosio.__all__:
        obj = getattr(turbosio, name)
        if name != "__version__":
            assert obj.__doc__, f"turbosio.{name} has no docstring"


def test_design_names() -> None:
    for name in (
        "Server",
        "AsyncClient",
        "Client",
        "ConnectionRefused",
        "RedisAdapter",
        "Emitter",
        "Recovery",
        "TurbosioError",
    ):
        assert name in turbosio.__all__
    sio = turbosio.Server()
    for method in ("on", "of", "use", "emit", "to", "in_", "except_", "run", "serve", "asgi"):
        assert callable(getattr(sio, method))
    operator = sio.to("a")
    assert operator is not sio.to("a")
    assert operator.except_("b") is not operator  # operators return new objects


def test_importing_turbosio_imports_no_optional_dependency() -> None:
    code = (
        "import sys, turbosio; "
        "print(sorted(m for m in ('redis', 'flask', 'aiohttp', 'msgpack', 'uvicorn') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
