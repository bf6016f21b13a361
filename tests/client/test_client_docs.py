"""docs/client.md stays true: its asyncio and synchronous examples run, unchanged but for
the URL, against the server of the README's quick start, and print what the page says."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Any

import pytest

import turbosio

ROOT = Path(__file__).resolve().parent.parent.parent


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL)


def test_client_docs_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    if not hasattr(turbosio, "AsyncClient"):
        pytest.skip(
            "!!! turbosio.AsyncClient and turbosio.Client are not exported from turbosio yet:"
            " the examples of docs/client.md did NOT run"
        )
    namespace: dict[str, Any] = {"__name__": "readme_quick_start"}  # not "__main__": no run()
    exec(compile(python_blocks(ROOT / "README.md")[0], "README.md", "exec"), namespace)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        serving = asyncio.run_coroutine_threadsafe(namespace["sio"].serve(port=0), loop)
        handle = serving.result(10)
        try:
            async_example, sync_example = python_blocks(ROOT / "docs" / "client.md")[:2]
            for number, example in enumerate((async_example, sync_example)):
                code = example.replace("http://localhost:5000", handle.url)
                exec(compile(code, f"client.md example {number}", "exec"), {"__name__": "ex"})
        finally:
            asyncio.run_coroutine_threadsafe(handle.close(), loop).result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("connected as ")
    assert "the server answered ok" in lines
    after_async = lines[lines.index("disconnected: io client disconnect") :]
    assert "ok" in after_async  # the synchronous example's acknowledgement
