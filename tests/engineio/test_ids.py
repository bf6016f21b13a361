"""Session and socket ids (turbosio.engineio.ids): Node's base64id format, never repeated."""

from __future__ import annotations

import base64
import re
import threading

from turbosio.engineio.ids import random_id


def test_ids_are_20_url_safe_characters_of_15_random_bytes() -> None:
    for _ in range(1000):
        value = random_id()
        assert re.fullmatch(r"[A-Za-z0-9_-]{20}", value)
        assert len(base64.urlsafe_b64decode(value)) == 15


def test_ids_do_not_repeat_across_pool_refills() -> None:
    ids = [random_id() for _ in range(20000)]  # about 73 refills of the 4 KiB pool
    assert len(set(ids)) == len(ids)


def test_ids_made_by_several_threads_at_once_do_not_repeat() -> None:
    made: list[list[str]] = [[] for _ in range(8)]

    def make(out: list[str]) -> None:
        for _ in range(5000):
            out.append(random_id())

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [value for out in made for value in out]
    assert len(everything) == 40000
    assert len(set(everything)) == 40000
