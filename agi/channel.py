"""The IVR's :class:`~ivr.channel.Channel` on a FastAGI session.

Prompts are sound files named by key under ``hotline/<lang>/`` in Asterisk's sounds folder
(made by ``hotline prompts build``). A missing file (``result=-1`` on a live channel) is
logged and skipped: a caller must never be stuck on a missing recording.
"""

from __future__ import annotations

from agi.server import AgiSession, CallEnded

ANY_KEY = "0123456789*#"  # every prompt takes the keys
MEDIA_MARGIN = 30.0  # seconds a prompt may take to play, on top of the key timeouts
AUDIO_SOCKET_LIMIT = 20.0  # seconds: the speech step ends its stream well before this
_MSET_UNSAFE = (",", '"', "\\", "|")  # MSet splits on commas; keep quoting out of it


class AgiChannel:
    def __init__(self, session: AgiSession, language: str = "zh") -> None:
        self.session = session
        self.language = language

    def _file(self, prompt: str) -> str:
        return f"hotline/{self.language}/{prompt}"

    async def play(self, prompt: str) -> str:
        reply = await self.session.command(
            "STREAM FILE", self._file(prompt), ANY_KEY, timeout=MEDIA_MARGIN
        )
        result = reply.result_int
        await self._check(result, prompt)
        return chr(result) if result is not None and result > 0 else ""

    async def collect(self, prompt: str, max_digits: int, timeout_ms: int) -> str:
        seconds = MEDIA_MARGIN + timeout_ms / 1000 * (max_digits + 1)
        reply = await self.session.command(
            "GET DATA", self._file(prompt), str(timeout_ms), str(max_digits), timeout=seconds
        )
        if reply.result == "-1":
            if await self.session.gone():
                raise CallEnded("caller hung up during GET DATA")
            self.session.log.warning("prompt %s missing or failed", prompt)
            return ""
        return reply.result  # digits, or "" on timeout; "12 (timeout)" keeps the 12

    async def stream_audio(self, target: str) -> None:
        # TryExec: if AudioSocket() cannot connect it fails without hanging the call up.
        reply = await self.session.command(
            "EXEC", "TryExec", f"AudioSocket({target})", timeout=AUDIO_SOCKET_LIMIT
        )
        if reply.result == "-1" and await self.session.gone():
            raise CallEnded("caller hung up during AudioSocket")

    async def set_language(self) -> None:
        """The channel's language (CHANNEL(language)) is the prompts' language, so what
        Asterisk says by itself (queue announcements) follows the flow, not the default."""
        await self.set_variable("CHANNEL(language)", self.language)

    async def set_variable(self, name: str, value: str) -> None:
        await self.session.command("SET VARIABLE", name, value)

    async def set_variables(self, values: dict[str, str]) -> None:
        """Set several variables in one round trip (``EXEC MSet``), in order; values MSet
        cannot carry (commas, quotes, backslashes) go one by one with SET VARIABLE first."""
        plain = {k: v for k, v in values.items() if not any(c in v for c in _MSET_UNSAFE)}
        for name, value in values.items():
            if name not in plain:
                await self.set_variable(name, value)
        if plain:
            pairs = ",".join(f"{name}={value}" for name, value in plain.items())
            reply = await self.session.command("EXEC", "MSet", pairs)
            if reply.result == "-2":  # no MSet in this Asterisk: fall back
                for name, value in plain.items():
                    await self.set_variable(name, value)

    async def _check(self, result: int | None, what: str) -> None:
        if result == -1:
            if await self.session.gone():
                raise CallEnded(f"caller hung up during {what}")
            self.session.log.warning("prompt %s missing or failed", what)
