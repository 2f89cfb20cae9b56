"""What the IVR engine needs from a call: a small protocol. ``agi.channel`` implements it
on FastAGI; tests use a scripted fake."""

from __future__ import annotations

from typing import Protocol


class Channel(Protocol):
    async def play(self, prompt: str) -> str:
        """Play a prompt to the end or until the caller presses a key; the key, or ``""``.
        Every prompt takes the keys: a caller who knows what they want need not wait."""

    async def collect(self, prompt: str, max_digits: int, timeout_ms: int) -> str:
        """Play a prompt and read up to ``max_digits`` keys (``#`` ends); ``""`` if none."""

    async def stream_audio(self, target: str) -> None:
        """Send the caller's audio to an AudioSocket server (``UUID,HOST:PORT``) until that
        server ends the stream; a failure to start it leaves the call going on."""


async def say(channel: Channel, prompts: list[str]) -> str:
    """Play ``prompts`` one after the other (the words of a sentence); a key pressed stops
    the sentence and is returned."""
    for prompt in prompts:
        key = await channel.play(prompt)
        if key:
            return key
    return ""
