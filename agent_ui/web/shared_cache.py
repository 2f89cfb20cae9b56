"""Figures many pages ask for at once, computed once: a small time-limited cache.

At a shift start 200 supervisors' wallboards ask for the same day's queue figures within a
second; each computation folds every call of the day. The first asker computes, the others
asking for the same key meanwhile wait for that result instead of computing it again (one
lock per key), and the result serves everyone for ``ttl`` seconds. Per process, bounded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class SharedCache:
    def __init__(self, max_entries: int = 256) -> None:
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._users: dict[Hashable, int] = {}  # threads holding or awaiting a key's lock
        self._renewals: dict[Hashable, int] = {}  # renewals done per key
        self._guard = threading.Lock()
        self._max = max_entries

    def get(self, key: Hashable, ttl: float, compute: Callable[[], T]) -> T:
        """The value for ``key`` if computed less than ``ttl`` seconds ago, else computed
        now (once, however many threads ask at the same moment)."""
        found = self._fresh(key)
        if found is not None:
            return found[1]  # type: ignore[no-any-return]
        with self._locked(key) as lock, lock:
            found = self._fresh(key)
            if found is not None:  # computed by the thread we waited for
                return found[1]  # type: ignore[no-any-return]
            value = compute()
            with self._guard:
                self._store(key, ttl, value)
            return value

    def renew(self, key: Hashable, ttl: float, compute: Callable[[], T]) -> T:
        """``key``'s value computed again now, whatever is cached (it is known to be wrong),
        under the key's lock: a reader asking meanwhile waits for the new value. A renewal
        asked for while another of the same key runs waits for it and takes its result:
        two at once never compute twice."""
        with self._guard:
            seen = self._renewals.get(key, 0)
            self._entries.pop(key, None)  # readers from now on wait for the new value
        with self._locked(key) as lock, lock:
            with self._guard:
                entry = self._entries.get(key)
                if self._renewals.get(key, 0) != seen and entry is not None:
                    return entry[1]  # type: ignore[no-any-return]
            value = compute()
            with self._guard:
                self._renewals[key] = self._renewals.get(key, 0) + 1
                self._store(key, ttl, value)
            return value

    @contextmanager
    def _locked(self, key: Hashable) -> Iterator[threading.Lock]:
        """``key``'s lock, kept while any thread holds or awaits it: an entry pushed out
        meanwhile does not take it along (a second lock would let two threads compute the
        same key at once), and a key whose computation failed leaves no lock behind."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
            self._users[key] = self._users.get(key, 0) + 1
        try:
            yield lock
        finally:
            with self._guard:
                self._users[key] -= 1
                if not self._users[key]:
                    del self._users[key]
                    if key not in self._entries:
                        self._locks.pop(key, None)

    def _store(self, key: Hashable, ttl: float, value: Any) -> None:
        """Under ``_guard``: the newest entry; the oldest dropped beyond the bound."""
        self._entries[key] = (time.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            old, _ = self._entries.popitem(last=False)
            if old not in self._users:  # else its last user drops it (_locked)
                self._locks.pop(old, None)
            self._renewals.pop(old, None)

    def _fresh(self, key: Hashable) -> tuple[float, Any] | None:
        with self._guard:
            entry = self._entries.get(key)
        return entry if entry is not None and entry[0] > time.monotonic() else None


class Refresher:
    """Renews figures behind the pages: one worker thread, at most one refresh per key
    queued or running, so a hundred loads of a stale page start one computation."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refresh")
        self._pending: set[Hashable] = set()
        self._guard = threading.Lock()

    def __call__(self, key: Hashable, job: Callable[[], None]) -> None:
        with self._guard:
            if key in self._pending:
                return
            self._pending.add(key)
        self._pool.submit(self._run, key, job)

    def close(self) -> None:
        """Drop the refreshes not started; wait for the one running (the app stops)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, key: Hashable, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:  # a failed refresh leaves the kept figures; the next load retries
            log.exception("refreshing %s failed", key)
        finally:
            with self._guard:
                self._pending.discard(key)
