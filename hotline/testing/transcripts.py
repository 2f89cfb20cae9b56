"""The byte-exact AGI and AMI transcripts captured on a real Asterisk 22 (tests/transcripts/).

Each line is ``seconds direction repr(bytes)``; ``<<`` came from Asterisk, ``>>`` went to it.
The tests and the load generator replay them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from agi.ami_protocol import AmiParser, Message

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


def ami_events(name: str, directory: Path = TRANSCRIPTS) -> list[Message]:
    """The events Asterisk sent in an AMI transcript, parsed."""
    data = b"".join(step.data for step in load(name, directory) if step.from_asterisk)
    return AmiParser().feed(b"Asterisk Call Manager/11.0.0\r\n" + data)


def agi_transcripts(directory: Path = TRANSCRIPTS) -> list[str]:
    return sorted(p.name for p in directory.glob("agi-*.txt"))
