"""The public names of turbosio.protocol and its modules."""

from __future__ import annotations

import inspect

import turbosio.exceptions
import turbosio.protocol as protocol
from turbosio.protocol import engineio, msgpack, socketio


def test_all_names_exist_and_are_documented() -> None:
    for module in (protocol, engineio, socketio, msgpack):
        for name in module.__all__:
            value = getattr(module, name)
            if callable(value) and not isinstance(value, (str, frozenset)):
                assert inspect.getdoc(value), f"{module.__name__}.{name} has no docstring"


def test_package_reexports_the_modules_names() -> None:
    renamed = {"Packet": "EnginePacket", "PacketType": "EnginePacketType"}
    for name in engineio.__all__:
        exported = renamed.get(name, name)
        if exported in protocol.__all__:
            assert getattr(protocol, exported) is getattr(engineio, name)
    for module in (socketio, msgpack):
        for name in module.__all__:
            assert name in protocol.__all__
            assert getattr(protocol, name) is getattr(module, name)
    assert protocol.EnginePacket is engineio.Packet
    assert protocol.Packet is socketio.Packet


def test_errors_are_the_package_tree() -> None:
    assert protocol.DecodeError is turbosio.exceptions.DecodeError
    assert protocol.TurbosioError is turbosio.exceptions.TurbosioError
    assert issubclass(protocol.DecodeError, ValueError)


def test_public_callables_in_modules_have_docstrings() -> None:
    for module in (engineio, socketio, msgpack):
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value):
                for attr, member in vars(value).items():
                    if not attr.startswith("_") and inspect.isfunction(member):
                        assert inspect.getdoc(member), f"{name}.{attr} has no docstring"
