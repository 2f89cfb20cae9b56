"""What the IVR engine needs from a call: a small protocol. ``agi.channel`` implements it
on FastAGI; tests use a scripted fake."""

from __future__ import annotations

from typing import Protocol


class Channel(Protocol):
    async def play(self, prompt: str) -> None:
        """Play a prompt to the end."""

    async def collect(self, prompt: str, max_digits: int, timeout_ms: int) -> str:
        """Play a prompt and read up to ``max_digits`` keys (``#`` ends); ``""`` if none."""

    async def say_digits(self, digits: str) -> None: ...

    async def say_datetime(self, epoch_seconds: int) -> None: ...

    async def stream_audio(self, target: str) -> None:
        """Send the caller's audio to an AudioSocket server (``UUID,HOST:PORT``) until that
        server ends the stream; a failure to start it leaves the call going on."""
