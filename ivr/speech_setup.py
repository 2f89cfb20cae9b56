"""Start-up of the speech step: the gazetteer and grid from the database, the Vosk model from
``speech_model_path``, the AudioSocket server on ``audiosocket``. Any failure leaves speech
off (logged): the IVR then asks for keys exactly as without a model."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Engine, select

from agi.audiosocket import AudioSocketServer
from hotline.db import transaction
from hotline.grid import GridIndex
from hotline.models import GazetteerEntry, GridCell
from hotline.settings import Settings
from ivr.places import NamedPlace, PlaceMatcher
from ivr.speech import Recognizers, SpeechConfig, SpeechService

log = logging.getLogger("hotline.speech")


def load_matcher(engine: Engine) -> PlaceMatcher:
    """Every active gazetteer name and alias, and the grid to place landmarks in."""
    with transaction(engine) as session:
        entries = session.scalars(
            select(GazetteerEntry).where(GazetteerEntry.active.is_(True))
        ).all()
        places = [
            NamedPlace(
                e.kind,
                e.name_zh,
                tuple(a for a in e.aliases.split("|") if a),
                e.area_code,
                e.lon,
                e.lat,
            )
            for e in entries
        ]
        cells = session.execute(
            select(GridCell.code, GridCell.geometry).where(GridCell.active.is_(True))
        ).all()
    grid = GridIndex.from_geojson_rows((code, geometry) for code, geometry in cells)
    return PlaceMatcher(places, grid.locate)


def speech_config(settings: Settings) -> SpeechConfig:
    return SpeechConfig(
        listen_seconds=settings.speech_listen_seconds,
        end_silence_ms=settings.speech_end_silence_ms,
        accept_confidence=settings.speech_accept_confidence,
        confirm_confidence=settings.speech_confirm_confidence,
    )


async def start_speech(
    settings: Settings, engine: Engine
) -> tuple[SpeechService | None, AudioSocketServer | None]:
    """The speech service and its AudioSocket server, or (None, None) with speech off."""
    model = settings.speech_model_path
    if model is None:
        log.info("no speech model configured: the IVR asks for keys only")
        return None, None
    try:
        matcher = await asyncio.to_thread(load_matcher, engine)
        recognizers = await asyncio.to_thread(Recognizers.load, model, matcher.phrases())
    except Exception as exc:  # missing package, wrong folder, broken model
        log.error("speech off: could not load the Vosk model at %s: %s", model, exc)
        return None, None
    server = AudioSocketServer()
    try:
        await server.start(settings.audiosocket.host, settings.audiosocket.port)
    except OSError as exc:
        log.error("speech off: AudioSocket cannot listen on %s: %s", settings.audiosocket, exc)
        return None, None
    host = settings.fastagi_url_host or settings.audiosocket.host
    address = f"{host}:{settings.audiosocket.port}"
    log.info(
        "speech on: model %s, %d phrases, AudioSocket %s", model, len(matcher.phrases()), address
    )
    return SpeechService(recognizers, matcher, server, address, speech_config(settings)), server
