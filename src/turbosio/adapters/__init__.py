"""Adapters: where rooms live and how broadcasts reach sockets (in memory, or a cluster)."""

from __future__ import annotations

from .base import BroadcastFlags, BroadcastOptions
from .memory import InMemoryAdapter

__all__ = ["BroadcastFlags", "BroadcastOptions", "InMemoryAdapter"]
