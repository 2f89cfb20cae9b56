"""What the benchmarks share for reporting."""

from __future__ import annotations

import os
import re
from pathlib import Path


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` 0.99 for p99); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


_BACKEND = re.compile(r"postgres: (?:\S+: )?\S+ (\S+) (?:\S+\(\d+\)|\[local\])")
_AUTOVACUUM = re.compile(r"autovacuum worker (\S+)")


def postgres_cpu_seconds(database: str) -> float:
    """CPU seconds (user + system, from /proc) the local PostgreSQL server has spent so far on
    ``database``: its client backends (their process titles name the database) and the
    server's shared processes (postmaster, checkpointer, WAL writer, background writer, ...).
    Backends and autovacuum workers of other databases are left out, as is the postmaster's
    count of exited children. Read it before and after the work and take the difference; a
    backend that exits in between takes its share with it (pooled connections stay open)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_bytes()
            title = (
                (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:  # the process ended meanwhile
            continue
        if raw[raw.index(b"(") + 1 : raw.rindex(b")")] != b"postgres":
            continue
        other = _BACKEND.search(title) or _AUTOVACUUM.search(title)
        if other is not None and other.group(1) != database:
            continue
        fields = raw[raw.rindex(b")") + 1 :].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def verdict(missed: list[str], goal: str) -> int:
    """Prints whether the benchmark met its goal; the exit status: 1 when anything missed."""
    if missed:
        print(f"goal missed ({goal}): " + "; ".join(missed))
        return 1
    print(f"goal met: {goal}")
    return 0
