"""Speech on the real Asterisk: the caller's leg plays a recorded utterance into the call,
AudioSocket() carries it to our server, Vosk (a real model) answers, the IVR routes on it.

The only Vosk model installable here is Korean, so the test gives two districts Korean
aliases (an operator's gazetteer would give Mandarin ones to the Mandarin model)."""

from __future__ import annotations

import datetime as dt
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete

from agi.audiosocket import AudioSocketServer
from hotline.db import transaction
from hotline.models import GazetteerEntry
from hotline.testing.pbx import Pbx, Scene, free_port, last_call, play
from hotline.testing.speech import say
from ivr.speech import Recognizers, SpeechConfig, SpeechService
from ivr.speech_setup import load_matcher

NOON = dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.UTC)  # 12:00 in Beijing, a Monday
KOREAN = {"노원구": "110101", "마포구": "110102"}  # said -> district (Dongcheng, Xicheng)


@pytest.fixture(scope="module")
def speech_pbx(
    pbx: Pbx, vosk_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Pbx, Recognizers]]:
    with transaction(pbx.engine) as session:
        for word, district in KOREAN.items():
            session.add(GazetteerEntry(kind="landmark", name_zh=word, area_code=district))
    sounds = pbx.sounds / "test"
    sounds.mkdir(parents=True, exist_ok=True)
    work = tmp_path_factory.mktemp("utterances")
    for n, word in enumerate(KOREAN):
        shutil.copy(say(word, work / f"u{n}.wav"), sounds / f"utterance{n}.wav")
    recognizers = Recognizers.load(vosk_model, load_matcher(pbx.engine).phrases())
    try:
        yield pbx, recognizers
    finally:
        with transaction(pbx.engine) as session:
            session.execute(delete(GazetteerEntry).where(GazetteerEntry.name_zh.in_(KOREAN)))


def seconds(path: Path) -> float:
    with wave.open(str(path)) as audio:
        return audio.getnframes() / audio.getframerate()


def spoken_call(
    pbx: Pbx,
    recognizers: Recognizers,
    caller: str,
    utterance: str,
    *,
    accept: float = 0.7,
    after: str = "",
) -> SpeechService:
    prompt = seconds(pbx.sounds / "hotline/zh/speak_place.wav")
    server = AudioSocketServer()
    service = SpeechService(
        recognizers,
        load_matcher(pbx.engine),
        server,
        "",  # filled in below, once the port is bound
        # Listening as long as before the budgets (#17): the caller here speaks on a clock,
        # and a busy machine may start the listening late.
        SpeechConfig(accept_confidence=accept, confirm_confidence=0.3, listen_seconds=6.0),
    )

    async def scenario(scene: Scene) -> None:
        port = free_port()
        await server.start("127.0.0.1", port)
        service.address = f"127.0.0.1:{port}"
        try:
            await scene.call(
                caller,
                script="speak",
                KEYS="0",
                AFTER=after,
                PRE="1",
                SAYWAIT=f"{prompt + 2.5:.1f}",  # key 0 ends the greeting; then the prompt
                UTTERANCE=f"test/{utterance}",
                HOLD="8",
            )
            await scene.wait_for(
                lambda e: e.event == "QueueCallerJoin" and e.get("CallerIDNum") == caller,
                timeout=40,
            )
        finally:
            await server.stop()

    play(pbx, scenario, clock=lambda: NOON, speech=service)
    return service


def test_the_caller_says_the_district(speech_pbx: tuple[Pbx, Recognizers]) -> None:
    pbx, recognizers = speech_pbx
    spoken_call(pbx, recognizers, "13800000701", "utterance0")  # 노원구 -> Dongcheng
    call = last_call(pbx, "13800000701")
    result = call.ivr_result or {}
    assert result["vars"]["speech_text"] == "노원구", result
    assert (call.district_code, result["district_source"]) == ("110101", "speech"), result
    assert "by_speech" in result["path"] and "district_menu" not in result["path"]


def test_unsure_speech_is_confirmed_by_key(speech_pbx: tuple[Pbx, Recognizers]) -> None:
    """Below the accept confidence (here: everything) the IVR asks "您说的是西城区，确认请按1"."""
    pbx, recognizers = speech_pbx
    spoken_call(pbx, recognizers, "13800000703", "utterance1", accept=1.01, after="1")
    call = last_call(pbx, "13800000703")
    result = call.ivr_result or {}
    assert (call.district_code, result["district_source"]) == ("110102", "speech"), result
    assert result["path"][-3:] == ["by_speech", "confirm_place", "report"]


def test_no_stream_means_keys_as_before(pbx: Pbx) -> None:
    """A speech service whose AudioSocket server is not listening: the call goes on as
    without speech, to the city platform (the district cannot be told)."""

    async def scenario(scene: Scene) -> None:
        await scene.call("13800000702", KEYS="0", HOLD="20")
        await scene.wait_for(
            lambda e: e.event == "QueueCallerJoin" and e.get("CallerIDNum") == "13800000702",
            timeout=40,
        )

    service = SpeechService(
        Recognizers(None, "[]", None),  # never used: nothing connects
        load_matcher(pbx.engine),
        AudioSocketServer(),
        f"127.0.0.1:{free_port()}",  # nobody listens here
    )
    play(pbx, scenario, clock=lambda: NOON, speech=service)
    call = last_call(pbx, "13800000702")
    result = call.ivr_result or {}
    assert (call.district_code, result["district_source"]) == (None, None), result
    assert result["path"][-2:] == ["by_speech", "report"]
    assert "Failed to connect to AudioSocket service" in pbx.log()  # and the call went on
