"""The reconnection delays: socket.io-client's backo2 formula, in seconds."""

from __future__ import annotations

import itertools

from turbosio.client import Backoff


def test_defaults_double_from_one_second_up_to_five() -> None:
    """Without jitter: 1 s, 2 s, 4 s, then capped at 5 s; reset starts again."""
    backoff = Backoff(1.0, 5.0, jitter=0)
    assert [backoff.duration() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.attempts == 5
    backoff.reset()
    assert backoff.duration() == 1.0


def test_jitter_as_the_javascript_client() -> None:
    """deviation = floor(r * jitter * ms), subtracted when floor(r * 10) is even, added when
    odd; the result capped and truncated to whole milliseconds."""
    draws = itertools.cycle([0.25, 0.35])  # floor(2.5) = 2: minus; floor(3.5) = 3: plus
    backoff = Backoff(1.0, 5.0, jitter=0.5, random=lambda: next(draws))
    # 1000 - floor(0.25 * 0.5 * 1000) = 875; 2000 + floor(0.35 * 0.5 * 2000) = 2350;
    # 4000 - 500 = 3500; 8000 + 1400 = 9400 -> capped at 5000.
    assert [backoff.duration() for _ in range(4)] == [0.875, 2.35, 3.5, 5.0]


def test_delays_stay_within_the_randomization_bounds() -> None:
    """With the defaults every delay is within +-50 % of the exponential one, and never more
    than the maximum."""
    backoff = Backoff()
    for attempt in range(12):
        delay = backoff.duration()
        base = min(1.0 * 2**attempt, 1e9)
        assert base * 0.5 <= delay * 1.0001 or delay == 5.0
        assert delay <= min(base * 1.5, 5.0)


def test_out_of_range_jitter_means_none_and_huge_attempts_stay_capped() -> None:
    """A jitter outside (0, 1] is ignored, as in backo2; thousands of attempts do not
    overflow."""
    backoff = Backoff(0.1, 2.0, jitter=1.5)
    assert backoff.jitter == 0
    for _ in range(2000):
        delay = backoff.duration()
    assert delay == 2.0
    assert Backoff(0, 1, jitter=0.5).duration() == 0
