"""The byte-exact AGI transcripts captured on a real Asterisk 22 (tests/transcripts/).

Each line is ``seconds direction repr(bytes)``; ``<<`` came from Asterisk, ``>>`` went to it.
The tests and the load generator replay them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "tests" / "transcripts"


@dataclass(frozen=True)
class Step:
    seconds: float
    from_asterisk: bool
    data: bytes


def load(name: str, directory: Path = TRANSCRIPTS) -> list[Step]:
    steps: list[Step] = []
    for line in (directory / name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        seconds, direction, raw = line.split(None, 2)
        data = ast.literal_eval(raw)
        assert isinstance(data, bytes) and direction in ("<<", ">>")
        steps.append(Step(float(seconds), direction == "<<", data))
    return steps


def agi_transcripts(directory: Path = TRANSCRIPTS) -> list[str]:
    return sorted(p.name for p in directory.glob("agi-*.txt"))
