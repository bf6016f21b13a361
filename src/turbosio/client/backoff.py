"""The reconnection delays of the JavaScript client (socket.io-client's backo2), in seconds.

The n-th delay (n counting from 0) is ``min * factor**n``; with a jitter ``j`` a deviation
``floor(r * j * delay)`` (``r`` uniform in [0, 1)) is subtracted when ``floor(r * 10)`` is even
and added when it is odd; the result is capped at ``max`` and truncated to whole milliseconds.
``reset()`` starts again from ``min`` (after a successful reconnection).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

__all__ = ["Backoff"]

# 2**60 times any sane minimum is far past any maximum; beyond it float powers overflow.
_MAX_EXPONENT = 60


class Backoff:
    """Exponential backoff with jitter, the JavaScript client's formula.

    ``min`` and ``max`` are in seconds; ``jitter`` outside (0, 1] means none, as in the
    JavaScript client. ``random`` gives the uniform draw (tests pass their own).
    """

    __slots__ = ("_random", "attempts", "factor", "jitter", "max", "min")

    def __init__(
        self,
        min: float = 1.0,
        max: float = 5.0,
        jitter: float = 0.5,
        factor: float = 2.0,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.min = min
        self.max = max
        self.factor = factor
        self.jitter = jitter if 0 < jitter <= 1 else 0.0
        #: Delays handed out since the last reset (the JavaScript client's attempt number).
        self.attempts = 0
        self._random = random

    def duration(self) -> float:
        """The next delay in seconds; counts one more attempt."""
        exponent = self.attempts
        self.attempts += 1
        min_ms = self.min * 1000
        if exponent > _MAX_EXPONENT:
            ms = math.inf if min_ms > 0 else 0.0
        else:
            ms = min_ms * self.factor**exponent
        if self.jitter and math.isfinite(ms):
            rand = self._random()
            deviation = math.floor(rand * self.jitter * ms)
            ms = ms - deviation if math.floor(rand * 10) & 1 == 0 else ms + deviation
        return int(min(ms, self.max * 1000)) / 1000

    def reset(self) -> None:
        """Start again from the minimum delay."""
        self.attempts = 0
