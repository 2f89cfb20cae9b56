"""Speech in the IVR's location step: the caller says "东城区 安定门" instead of keying.

Audio comes over AudioSocket (``agi.audiosocket``); Vosk decodes it in-process. The model is
loaded once; recognizers carry a grammar of the gazetteer's names, are warmed before the
first call and reused with ``Reset()``. Decoding runs in a thread pool, never in the event
loop. End of speech is found by energy (a silence after speech) or by Vosk's own end-point.

Whatever goes wrong (no model, the recognizer fails or is slow, Asterisk never connects) the
answer is None within the listening deadline, and the IVR asks for the district's key as it
does without speech.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agi.audiosocket import AudioSocketServer, AudioStream
from ivr.places import HeardPlace, PlaceMatcher

log = logging.getLogger("hotline.speech")
SAMPLE_RATE = 8000
BYTES_PER_MS = SAMPLE_RATE * 2 // 1000  # 16-bit mono
CHUNK_BYTES = 100 * BYTES_PER_MS  # hand Vosk 100 ms at a time


@dataclass(frozen=True)
class SpeechConfig:
    listen_seconds: float = 3.0  # the longest the caller is listened to (the budget, #17)
    no_speech_seconds: float = 3.0  # silence from the start: give up
    end_silence_ms: int = 600  # quiet after speech: the caller has finished
    energy_threshold: int = 400  # RMS of 16-bit samples that counts as speech
    decode_grace_seconds: float = 1.5  # after listening, the longest we wait for Vosk
    accept_confidence: float = 0.85  # at or above: route on it
    confirm_confidence: float = 0.5  # at or above (below accept): ask "press 1"


def _rms(pcm: bytes) -> float:
    """Root mean square of little-endian 16-bit samples (audioop is gone in 3.13)."""
    count = len(pcm) // 2
    if not count:
        return 0.0
    samples = memoryview(pcm[: count * 2]).cast("h")
    return float((sum(s * s for s in samples) / count) ** 0.5)


class Endpointer:
    """Where speech starts and ends in a stream of 8 kHz frames, by energy."""

    def __init__(self, config: SpeechConfig) -> None:
        self._config = config
        self.heard_ms = 0.0  # audio time seen so far
        self.speech_started_ms: float | None = None
        self.speech_ended_ms: float | None = None
        self._quiet_ms = 0.0

    def feed(self, pcm: bytes) -> str:
        """``waiting``, ``speaking``, ``ended``, ``no_speech`` or ``too_long``."""
        duration = len(pcm) / BYTES_PER_MS
        self.heard_ms += duration
        loud = _rms(pcm) >= self._config.energy_threshold
        if self.speech_started_ms is None:
            if loud:
                self.speech_started_ms = self.heard_ms - duration
                return "speaking"
            if self.heard_ms >= self._config.no_speech_seconds * 1000:
                return "no_speech"
            return "waiting"
        self._quiet_ms = 0.0 if loud else self._quiet_ms + duration
        if self._quiet_ms >= self._config.end_silence_ms:
            self.speech_ended_ms = self.heard_ms - self._quiet_ms
            return "ended"
        if self.heard_ms >= self._config.listen_seconds * 1000:
            return "too_long"
        return "speaking"


class Decoder:
    """One Vosk recognizer. Its lock keeps a late ``accept`` (from a call that gave up) and
    the ``reset`` that returns it to the pool from running at once in two threads."""

    def __init__(self, recognizer: Any) -> None:
        self._recognizer = recognizer
        self._lock = threading.Lock()

    def accept(self, pcm: bytes) -> bool:
        with self._lock:
            return bool(self._recognizer.AcceptWaveform(pcm))

    def result(self) -> str:
        with self._lock:
            return str(self._recognizer.Result())

    def final(self) -> str:
        with self._lock:
            return str(self._recognizer.FinalResult())

    def reset(self) -> None:
        with self._lock:
            self._recognizer.Reset()


class Recognizers:
    """The Vosk model, loaded once, and a pool of warmed recognizers with the grammar."""

    def __init__(self, model: Any, grammar: str, vosk: Any) -> None:
        self.model, self._grammar, self._vosk = model, grammar, vosk
        self._idle: list[Decoder] = []
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_path: Path, phrases: list[str], warm: int = 2) -> Recognizers:
        """Blocking (seconds): call it in a thread at start-up."""
        import vosk  # optional: only with a model configured

        vosk.SetLogLevel(-2)  # errors only: a grammar word missing from the model is normal
        if not (model_path / "am").is_dir() and not (model_path / "conf").is_dir():
            raise FileNotFoundError(f"{model_path} does not look like a Vosk model folder")
        # ensure_ascii=False: with \\u escapes Vosk silently drops every Chinese word.
        pool = cls(vosk.Model(str(model_path)), json.dumps(phrases, ensure_ascii=False), vosk)
        for recognizer in [pool.take() for _ in range(warm)]:
            pool.give_back(recognizer)
        return pool

    def _new(self) -> Decoder:
        recognizer = self._vosk.KaldiRecognizer(self.model, SAMPLE_RATE, self._grammar)
        recognizer.SetWords(True)
        decoder = Decoder(recognizer)
        # The first decoding expands the graph lazily (about RTF 1): pay it now, not on a call.
        noise = bytes(((i * 7919) % 251) for i in range(SAMPLE_RATE * 2))
        decoder.accept(noise)
        decoder.final()
        decoder.reset()
        return decoder

    def take(self) -> Decoder:
        """An idle decoder, or a new one (blocking: call it in a thread)."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._new()

    def give_back(self, decoder: Decoder) -> None:
        decoder.reset()
        with self._lock:
            self._idle.append(decoder)

    @property
    def idle(self) -> int:
        return len(self._idle)


@dataclass(frozen=True)
class Heard:
    text: str
    confidence: float
    place: HeardPlace | None
    digits: str = ""  # keys pressed while listening
    latency_ms: float | None = None  # from the end of speech to the result


def _read_result(raw: str) -> tuple[str, float]:
    result = json.loads(raw)
    words = result.get("result") or []
    confidence = sum(w.get("conf", 0.0) for w in words) / len(words) if words else 0.0
    return str(result.get("text", "")).strip(), float(confidence)


class SpeechService:
    """Listens to one caller at a time per call: ``listen`` starts AudioSocket() through
    ``start_app`` and answers with what was heard, or None."""

    def __init__(
        self,
        recognizers: Recognizers,
        matcher: PlaceMatcher,
        server: AudioSocketServer,
        address: str,
        config: SpeechConfig | None = None,
        workers: int = 2,
    ) -> None:
        self.recognizers, self.matcher, self.server = recognizers, matcher, server
        self.address = address  # HOST:PORT as Asterisk reaches our AudioSocket server
        self.config = config or SpeechConfig()
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="vosk")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def listen(self, start_app: Callable[[str], Coroutine[Any, Any, object]]) -> Heard | None:
        stream = self.server.expect()
        app = asyncio.create_task(start_app(f"{stream.id},{self.address}"))
        hearing = asyncio.create_task(self.recognize(stream))
        deadline = self.config.listen_seconds + self.config.decode_grace_seconds + 2.0
        loop = asyncio.get_running_loop()
        until = loop.time() + deadline
        try:
            done, _ = await asyncio.wait(
                {app, hearing}, timeout=deadline, return_when=asyncio.FIRST_COMPLETED
            )
            if hearing not in done and app in done and not stream.connected.is_set():
                log.warning("AudioSocket never connected (%s)", app.exception() or "no stream")
                return None
            if hearing not in done:
                done, _ = await asyncio.wait({hearing}, timeout=max(0.0, until - loop.time()))
            if hearing not in done:
                log.warning("speech: no answer within %.1f s", deadline)
                return None
            if hearing.exception() is not None:
                log.error("speech failed: %r", hearing.exception())
                return None
            return hearing.result()
        finally:
            hearing.cancel()
            self.server.forget(stream)  # ends AudioSocket() on Asterisk's side
            # Bounded by the AGI command's own timeout; a caller who hung up meanwhile
            # raises CallEnded from here, and the IVR records the abandoned call.
            await app

    def _patience(self, endpointer: Endpointer, elapsed: float) -> float:
        """How long to wait for the next frame, in wall-clock seconds: frames may stop
        coming altogether, so the audio clock alone would never end the step."""
        config = self.config
        if endpointer.speech_started_ms is None:
            limit = config.no_speech_seconds - elapsed
        else:
            limit = min(config.end_silence_ms / 1000, config.listen_seconds - elapsed)
        return max(limit, 0.0)

    async def recognize(self, stream: AudioStream) -> Heard | None:
        """Decode one stream until the caller stops speaking, keys two digits, or time is up."""
        loop = asyncio.get_running_loop()
        await stream.connected.wait()  # no recognizer is taken for a stream that never comes
        decoder = await loop.run_in_executor(self._executor, self.recognizers.take)
        endpointer = Endpointer(self.config)
        pending, digits, final = b"", "", None
        ended_at: float | None = None
        started = loop.time()
        try:
            while final is None:
                wait = self._patience(endpointer, loop.time() - started)
                try:
                    kind, data = await asyncio.wait_for(stream.events.get(), wait)
                except TimeoutError:  # no frames (a phone that sends none in silence)
                    if endpointer.speech_started_ms is None:
                        return None
                    ended_at = time.perf_counter()
                    break
                if kind == "dtmf":
                    digits += data.decode("ascii", "replace")
                    if len(digits) >= 2:
                        return Heard("", 0.0, None, digits)
                    continue
                if kind == "end":
                    break
                state = endpointer.feed(data)
                if state == "no_speech":
                    return None
                pending += data
                if len(pending) >= CHUNK_BYTES or state in ("ended", "too_long"):
                    chunk, pending = pending, b""
                    if await loop.run_in_executor(self._executor, decoder.accept, chunk):
                        raw = await loop.run_in_executor(self._executor, decoder.result)
                        text, confidence = _read_result(raw)
                        if text:
                            final = (text, confidence)
                if state in ("ended", "too_long"):
                    ended_at = time.perf_counter()
                    break
            stream.finish()  # stop listening: Asterisk's AudioSocket() returns
            if final is None:
                if pending:
                    await loop.run_in_executor(self._executor, decoder.accept, pending)
                raw = await loop.run_in_executor(self._executor, decoder.final)
                final = _read_result(raw)
            text, confidence = final
            if not text:
                log.info("speech: nothing recognized")
                return None
            latency = (time.perf_counter() - ended_at) * 1000 if ended_at is not None else None
            heard = Heard(
                text, confidence, self.matcher.match(text) if text else None, digits, latency
            )
            log.info("speech heard %r (confidence %.2f) -> %s", text, confidence, heard.place)
            return heard
        finally:
            await loop.run_in_executor(self._executor, self.recognizers.give_back, decoder)
