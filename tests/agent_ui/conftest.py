from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from agent_ui.main import create_app
from hotline.db import transaction
from hotline.settings import Settings
from hotline.tokens import make_token


@dataclass
class Api:
    client: TestClient
    unit: dict[str, str]  # Dongcheng sanitation's token
    water: dict[str, str]  # the city water company's token
    system: dict[str, str]  # a city-wide external system
    xicheng: dict[str, str]  # a Xicheng-scoped external system
    system_key: str


@pytest.fixture
def api(loaded_engine: Engine, loaded_db_url: str, tmp_path: Path) -> Iterator[Api]:
    with transaction(loaded_engine) as session:
        unit = make_token(session, "dc-sanitation", "unit", unit_code="dongcheng.sanitation")
        water = make_token(session, "water", "unit", unit_code="bj.water_supply")
        system = make_token(session, "city-system", "dispatcher", scope_code="110000")
        xicheng = make_token(session, "xc-system", "dispatcher", scope_code="110102")
    app = create_app(
        Settings(database_url=loaded_db_url, media_dir=tmp_path / "media"), loaded_engine
    )
    with TestClient(app) as client:
        yield Api(
            client,
            *(({"Authorization": f"Bearer {t}"}) for t in (unit, water, system, xicheng)),
            system,
        )
