"""Figures computed once for everyone asking at the same moment, for a limited time."""

from __future__ import annotations

import threading
import time

from agent_ui.web.shared_cache import SharedCache


def test_many_askers_one_computation() -> None:
    cache = SharedCache()
    calls = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.2)
        return 42

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("k", 60, slow))) for _ in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [42] * 20 and len(calls) == 1


def test_expires_and_stays_bounded() -> None:
    cache = SharedCache(max_entries=3)
    assert cache.get("a", 0, lambda: 1) == 1
    assert cache.get("a", 60, lambda: 2) == 2  # the first entry had expired at once
    assert cache.get("a", 60, lambda: 3) == 2
    for key in "bcd":
        cache.get(key, 60, lambda: 0)
    assert cache.get("a", 60, lambda: 4) == 4  # pushed out by newer keys
