"""``python -m turbosio``: the same command line as ``turbosio`` (see :mod:`turbosio.cli`)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main(prog="python -m turbosio"))
