"""Prompt audio made from the prompt texts: espeak-ng's Mandarin (and English) voice, then
sox to 8 kHz mono 16-bit WAV, the format Asterisk plays without transcoding on narrowband
calls. An operator can replace any file with a recording of the same name."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterable
from pathlib import Path

from ivr.flow import Prompt

VOICES = {"zh": "cmn", "en": "en"}
TRIM: tuple[str, ...] = ("silence", "1", "0.02", "0.5%", "reverse")
TRIM += (*TRIM, "pad", "0", "0.12")  # both ends, then 0.12 s of silence after


class AudioToolMissing(RuntimeError):
    """espeak-ng or sox is not installed (Debian packages espeak-ng and sox)."""


def build_prompts(prompts: dict[str, Prompt], out: Path, *, force: bool = False) -> list[Path]:
    """Write ``out/<lang>/<key>.wav`` for every prompt; keep existing files unless ``force``."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise AudioToolMissing(f"{tool} not found: apt-get install espeak-ng sox")
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        for language, voice in VOICES.items():
            folder = out / language
            folder.mkdir(parents=True, exist_ok=True)
            for prompt in prompts.values():
                target = folder / f"{prompt.key}.wav"
                if target.exists() and not force:
                    continue
                text = prompt.zh_cn if language == "zh" else (prompt.en or prompt.zh_cn)
                synthesize(text, target, voice, Path(scratch) / f"{language}-{prompt.key}.wav")
                written.append(target)
    return written


def synthesize(
    text: str, out: Path, voice: str, scratch: Path | None = None, words_per_minute: int = 190
) -> Path:
    """``text`` spoken by espeak-ng into ``out``: 8 kHz, mono, 16-bit signed WAV."""
    raw = scratch or out.with_suffix(".espeak.wav")
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(raw), text],
        check=True,
        capture_output=True,
        timeout=60,
    )
    subprocess.run(
        [
            "sox",
            str(raw),
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            str(out),
            # espeak-ng pads each text with silence; the caller waits for it, and the words a
            # sentence is made of (dates, numbers) would sound broken apart. Trim both ends,
            # keep a short breath after.
            *TRIM,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    raw.unlink(missing_ok=True)
    return out


def duration(path: Path) -> float:
    """Seconds of audio in a WAV file."""
    with wave.open(str(path), "rb") as audio:
        return audio.getnframes() / audio.getframerate()


def durations(folder: Path, keys: Iterable[str]) -> dict[str, float]:
    """The length of each prompt built (or recorded) in ``folder``; missing files are left
    out, so a caller of this can name them."""
    found = {}
    for key in keys:
        path = folder / f"{key}.wav"
        if path.is_file():
            found[key] = duration(path)
    return found
