"""Figures computed once for everyone asking at the same moment, for a limited time."""

from __future__ import annotations

import threading
import time

import pytest

from agent_ui.web.shared_cache import Refresher, SharedCache


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


def test_a_refresh_behind_the_pages_runs_once_per_key() -> None:
    refresher = Refresher()
    started, release = threading.Event(), threading.Event()
    runs: list[str] = []

    def slow(name: str) -> None:
        runs.append(name)
        started.set()
        release.wait(5)

    for _ in range(50):  # fifty loads of a stale page while its refresh runs
        refresher("month", lambda: slow("month"))
    assert started.wait(5)
    refresher("year", lambda: slow("year"))  # another figure queues behind it
    release.set()
    failing = threading.Event()

    def broken() -> None:
        failing.set()
        raise RuntimeError("database gone")

    refresher("broken", broken)
    for _ in range(100):  # bounded wait for the single worker to drain its queue
        if failing.is_set() and "year" in runs:
            break
        time.sleep(0.05)
    assert runs == ["month", "year"]
    for _ in range(100):  # a failed refresh frees its key: the next stale load asks again
        if not refresher._pending:
            break
        time.sleep(0.05)
    again = threading.Event()
    refresher("broken", again.set)
    assert again.wait(5)


def test_a_renewal_computes_again_once_however_many_ask() -> None:
    """A recompute replaces a value still fresh; twenty asking at once compute it once, and
    a reader meanwhile waits for the new value instead of being served the old."""
    cache = SharedCache()
    assert cache.get("k", 60, lambda: "old") == "old"
    calls: list[int] = []
    started = threading.Event()

    def slow() -> str:
        calls.append(1)
        started.set()
        time.sleep(0.2)
        return "new"

    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(cache.renew("k", 60, slow)))
    first.start()
    assert started.wait(5)
    others = [
        threading.Thread(target=lambda: results.append(cache.renew("k", 60, slow)))
        for _ in range(19)
    ]
    reader: list[str] = []
    others.append(threading.Thread(target=lambda: reader.append(cache.get("k", 60, slow))))
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join()
    assert results == ["new"] * 20 and reader == ["new"] and len(calls) == 1
    assert cache.get("k", 60, lambda: "computed") == "new"
    assert cache.renew("k", 60, lambda: "newer") == "newer"  # a later one computes again


def test_a_key_pushed_out_while_it_is_computed_is_still_computed_once() -> None:
    """The entries are bounded; a key's lock is not. Before, pushing a key's expired entry
    out took its lock along while a thread computed it, and the next asker made a new lock
    and computed the same key at once."""
    cache = SharedCache(max_entries=1)
    cache.get("k", 0, lambda: 0)  # an entry, expired at once
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow() -> int:
        calls.append(1)
        started.set()
        release.wait(5)
        return 1

    first = threading.Thread(target=lambda: cache.get("k", 60, slow))
    first.start()
    assert started.wait(5)
    cache.get("other", 60, lambda: 2)  # pushes "k" out while it is computed
    second: list[int] = []
    waiting = threading.Thread(target=lambda: second.append(cache.get("k", 60, slow)))
    waiting.start()
    time.sleep(0.1)
    release.set()
    first.join(5)
    waiting.join(5)
    assert second == [1] and len(calls) == 1


def test_a_failed_computation_leaves_nothing_behind() -> None:
    cache = SharedCache()

    def broken() -> int:
        raise RuntimeError("the database went away")

    for _ in range(3):
        with pytest.raises(RuntimeError):
            cache.get(("page", 1), 60, broken)
    assert cache.get(("page", 1), 60, lambda: 7) == 7
    assert not cache._users and set(cache._locks) == {("page", 1)}
