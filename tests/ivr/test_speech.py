"""The speech step: place matching, end-pointing, the real Vosk model fed over a real
AudioSocket connection, failures that fall back to keys, and the flow around it."""

from __future__ import annotations

import asyncio
import time
import uuid
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from agi.audiosocket import (
    KIND_AUDIO,
    KIND_DTMF,
    KIND_HANGUP,
    KIND_ID,
    AudioSocketServer,
    encode,
    read_frame,
)
from hotline.settings import AudioSocketBind, Settings
from hotline.testing.ivr import RULES, Records, ScriptedCaller
from hotline.testing.pbx import free_port
from hotline.testing.speech import say
from ivr.actions import OUTCOMES, make_actions
from ivr.engine import CallState, run_flow
from ivr.entry import FLOW_DIR
from ivr.flow import Flow, load_flow
from ivr.places import HeardPlace, NamedPlace, PlaceMatcher, grammar_phrase
from ivr.speech import Endpointer, Heard, Recognizers, SpeechConfig, SpeechService
from ivr.speech_setup import start_speech

PLACES = [
    NamedPlace("district", "东城区", ("东城",), "110101"),
    NamedPlace("district", "西城区", ("西城",), "110102"),
    NamedPlace("street", "安定门街道", ("安定门",), "110101004"),
    NamedPlace("street", "什刹海街道", ("什刹海",), "110102012"),
    NamedPlace("landmark", "天安门", (), "110101001", 116.3975, 39.9087),
    NamedPlace("road", "长安街", (), "110101001"),
    NamedPlace("road", "长安街", (), "110102001"),  # the same name in two districts
]
KOREAN = [
    NamedPlace("landmark", "노원구", (), "110101"),
    NamedPlace("landmark", "마포구", (), "110102"),
]


def test_chinese_names_are_spoken_character_by_character() -> None:
    assert grammar_phrase("东城区") == "东 城 区"
    assert grammar_phrase("노원구") == "노원구"
    assert grammar_phrase("东城区 CBD") == "东 城 区 CBD"
    assert "安 定 门" in PlaceMatcher(PLACES).phrases()


@pytest.mark.parametrize(
    ("text", "district", "street"),
    [
        ("东 城 区 安 定 门", "110101", "110101004"),
        ("安定门", "110101", "110101004"),
        ("西城", "110102", None),
        ("西城区 长安街", "110102", "110102001"),  # the district tells the two apart
        ("长安街", None, None),  # in two districts, no district said
        ("东城区 什刹海", None, None),  # a street of another district
        ("东城区 西城区", None, None),
        ("你好", None, None),
    ],
)
def test_place_matching(text: str, district: str | None, street: str | None) -> None:
    heard = PlaceMatcher(PLACES).match(text)
    if district is None:
        assert heard is None
    else:
        assert heard is not None and (heard.district, heard.street) == (district, street)


def test_a_landmark_is_placed_in_its_grid_cell() -> None:
    matcher = PlaceMatcher(PLACES, lambda lon, lat: "110101001001001" if lon > 116 else None)
    heard = matcher.match("天安门")
    assert heard == HeardPlace("110101", "110101001", "110101001001001", ("天安门",))


def loud(ms: int) -> bytes:
    return b"\x00\x20" * (8 * ms)  # 8192 in every sample


def test_endpointer() -> None:
    config = SpeechConfig(no_speech_seconds=1.0, end_silence_ms=300, listen_seconds=3.0)
    quiet = Endpointer(config)
    assert [quiet.feed(bytes(3200)) for _ in range(5)][-1] == "no_speech"  # 5 x 200 ms
    talker = Endpointer(config)
    assert talker.feed(bytes(1600)) == "waiting"
    assert talker.feed(loud(400)) == "speaking"
    assert talker.feed(bytes(1600)) == "speaking"  # 100 ms quiet
    assert talker.feed(bytes(3200)) == "ended"  # 300 ms quiet in all
    assert (talker.speech_started_ms, talker.speech_ended_ms) == (100.0, 500.0)
    rambler = Endpointer(config)
    states = [rambler.feed(loud(100)) for _ in range(30)]
    assert states[-1] == "too_long"


@pytest.fixture(scope="module")
def recognizers(vosk_model: Path) -> Recognizers:
    return Recognizers.load(vosk_model, PlaceMatcher(KOREAN).phrases())


@pytest.fixture(scope="module")
def utterance(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = say("노원구", tmp_path_factory.mktemp("say") / "nowon.wav")
    with wave.open(str(path)) as audio:
        return audio.readframes(audio.getnframes())


def peer(port_of: Callable[[], int], audio: bytes, dtmf: str = "") -> Any:
    """Plays Asterisk's side of AudioSocket(): names the stream, sends audio in 20 ms frames
    (then silence), and stops when told to hang up. Returns the frame kinds it received."""

    async def start_app(target: str) -> list[int]:
        stream_id, _ = target.split(",")
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of())
        writer.write(encode(KIND_ID, uuid.UUID(stream_id).bytes))
        for digit in dtmf:
            writer.write(encode(KIND_DTMF, digit.encode()))
        padded = bytes(3200) + audio + bytes(16000)
        for start in range(0, len(padded), 320):
            writer.write(encode(KIND_AUDIO, padded[start : start + 320]))
        await writer.drain()
        kinds = []
        while (frame := await read_frame(reader)) is not None:
            kinds.append(frame.kind)
            if frame.kind == KIND_HANGUP:
                break
        writer.close()
        return kinds

    return start_app


def listen(recognizers: Any, audio: bytes, dtmf: str = "", **config: Any) -> Heard | None:
    async def main() -> Heard | None:
        server = AudioSocketServer()
        _, port = await server.start("127.0.0.1", 0)
        service = SpeechService(
            recognizers, PlaceMatcher(KOREAN), server, f"127.0.0.1:{port}", SpeechConfig(**config)
        )
        try:
            return await service.listen(peer(lambda: port, audio, dtmf))
        finally:
            service.close()
            await server.stop()

    return asyncio.run(main())


def test_vosk_hears_the_place_over_audiosocket(recognizers: Recognizers, utterance: bytes) -> None:
    heard = listen(recognizers, utterance)
    assert heard is not None
    assert (heard.text, heard.place and heard.place.district) == ("노원구", "110101")
    assert heard.confidence > 0.5 and heard.latency_ms is not None and heard.latency_ms < 1000
    assert recognizers.idle >= 1  # the recognizer went back to the pool


def test_keys_while_listening_win(recognizers: Recognizers) -> None:
    heard = listen(recognizers, bytes(8000), dtmf="02")
    assert heard is not None and heard.digits == "02" and heard.place is None


def test_silence_is_no_answer(recognizers: Recognizers) -> None:
    assert listen(recognizers, bytes(8000), no_speech_seconds=1.0) is None


class Broken:
    """A recognizer pool whose decoder fails, or is far too slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.idle = delay, 0

    def take(self) -> Any:
        pool = self

        class Decoder:
            def accept(self, pcm: bytes) -> bool:
                if pool.delay:
                    time.sleep(pool.delay)
                    return False
                raise RuntimeError("the recognizer broke")

            def result(self) -> str:
                return "{}"

            final = result

            def reset(self) -> None:
                pass

        return Decoder()

    def give_back(self, decoder: Any) -> None:
        pass


def test_a_broken_recognizer_answers_none() -> None:
    assert listen(Broken(), loud(500)) is None


def test_a_slow_recognizer_answers_none_in_time() -> None:
    started = time.monotonic()
    heard = listen(Broken(delay=0.5), loud(2000), listen_seconds=1.0, decode_grace_seconds=0.5)
    assert heard is None
    assert time.monotonic() - started < 1.0 + 0.5 + 2.0 + 1.0  # listen + grace + margin


class Speech:
    """Stands in for SpeechService in the flow: answers ``listen`` with a set result."""

    def __init__(self, heard: Heard | None) -> None:
        self.heard, self.config = heard, SpeechConfig()

    async def listen(self, start_app: Any) -> Heard | None:
        return self.heard


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(FLOW_DIR / "flow.toml", FLOW_DIR / "prompts.csv", OUTCOMES)


def run(flow: Flow, heard: Heard | None, keys: list[str]) -> tuple[CallState, ScriptedCaller]:
    channel = ScriptedCaller(keys)
    actions = make_actions(Records(), RULES, flow.history_days, Speech(heard))  # type: ignore[arg-type]
    state = asyncio.run(run_flow(flow, channel, CallState("13800000000", "12319"), actions))  # type: ignore[arg-type]
    return state, channel


DONGCHENG = HeardPlace("110101", "110101004", None, ("东城区", "安定门"))


def test_sure_speech_routes(flow: Flow) -> None:
    state, channel = run(flow, Heard("东城区 安定门", 0.95, DONGCHENG), ["0"])
    assert (state.district, state.district_source, state.vars["street"]) == (
        "110101",
        "speech",
        "110101004",
    )
    assert channel.heard == ["greeting", "speak_place"]


def test_unsure_speech_is_confirmed_or_goes_to_the_city(flow: Flow) -> None:
    state, channel = run(flow, Heard("东城区", 0.6, DONGCHENG), ["0", "1"])
    assert (state.district, state.district_source) == ("110101", "speech")
    assert channel.heard == ["greeting", "speak_place", "confirm_110101"]
    state, channel = run(flow, Heard("东城区", 0.6, DONGCHENG), ["0", "2"])
    assert (state.district, state.district_source) == (None, None)  # the city platform
    assert channel.heard[-1] == "confirm_110101"


@pytest.mark.parametrize(
    "heard",
    [None, Heard("东城区", 0.2, DONGCHENG), Heard("你好", 0.99, None)],
)
def test_no_usable_speech_goes_to_the_city(flow: Flow, heard: Heard | None) -> None:
    state, channel = run(flow, heard, ["0", "01"])
    assert (state.intent, state.district) == ("report", None)
    assert channel.heard == ["greeting", "speak_place"]  # no menu after it


def test_keys_during_the_speech_step(flow: Flow) -> None:
    state, channel = run(flow, Heard("", 0.0, None, digits="02"), ["0"])
    assert (state.district, state.district_source) == ("110102", "keyed")
    assert "district_menu" not in channel.heard


def test_start_up_turns_speech_on_or_leaves_it_off(
    loaded_engine: Engine, loaded_db_url: str, vosk_model: Path, tmp_path: Path
) -> None:
    async def start(model: Path | None) -> SpeechService | None:
        settings = Settings(
            database_url=loaded_db_url,
            speech_model_path=model,
            audiosocket=AudioSocketBind(port=free_port()),
        )
        service, server = await start_speech(settings, loaded_engine)
        if server is not None:
            await server.stop()
        if service is not None:
            service.close()
        return service

    assert asyncio.run(start(None)) is None
    assert asyncio.run(start(tmp_path / "no-model")) is None  # logged, keys only
    service = asyncio.run(start(vosk_model))
    assert service is not None and "东 城 区" in service.matcher.phrases()
