"""The ``hotline`` command: serve, db, data, user, demo, grid."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy import select

from hotline import migrate
from hotline.cli_errors import explain
from hotline.db import make_engine, transaction
from hotline.grid import GridIndex
from hotline.models import GridCell
from hotline.refdata import DataErrors, load_reference_data, read_reference_data
from hotline.settings import ConfigFileError, Settings, load_settings
from hotline.users import UserError, add_user

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Engine

    from ivr.budgets import PathTime

app = typer.Typer(help="City-management hotline and contact center.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
data_app = typer.Typer(help="Reference data files.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
grid_app = typer.Typer(help="Grid cells.", no_args_is_help=True)
dialplan_app = typer.Typer(help="The Asterisk configuration.", no_args_is_help=True)
prompts_app = typer.Typer(help="IVR prompt audio.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for units and other systems.", no_args_is_help=True)
speech_app = typer.Typer(help="Speech recognition in the IVR (Vosk).", no_args_is_help=True)
ivr_app = typer.Typer(help="The IVR flow.", no_args_is_help=True)
calls_app = typer.Typer(help="Call records.", no_args_is_help=True)
for sub, name in (
    (db_app, "db"),
    (data_app, "data"),
    (user_app, "user"),
    (demo_app, "demo"),
    (grid_app, "grid"),
    (dialplan_app, "dialplan"),
    (prompts_app, "prompts"),
    (token_app, "token"),
    (speech_app, "speech"),
    (ivr_app, "ivr"),
    (calls_app, "calls"),
):
    app.add_typer(sub, name=name)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file (or HOTLINE_CONFIG).")
]
SoundsOption = Annotated[
    Path | None,
    typer.Option(
        help="The prompts built or recorded (the folder holding <language>/<key>.wav, as "
        "`prompts build --out`)."
    ),
]
_state: dict[str, Settings] = {}


@app.callback()
def main(config: ConfigOption = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    _use_config(config)


def _use_config(config: Path | None) -> None:
    """Load the settings: ``hotline --config F CMD`` and ``hotline serve --config F`` both
    land here (the latter replaces what the group loaded from HOTLINE_CONFIG or defaults)."""
    try:
        _state["settings"] = load_settings(config)
    except ConfigFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def settings() -> Settings:
    return _state["settings"]


def entry() -> None:
    """The ``hotline`` console command (and ``python -m hotline``). Whatever fails reaches
    the person at the terminal as one ``error: …`` line and exit status 1;
    ``HOTLINE_DEBUG=1`` adds the traceback."""
    try:
        app(prog_name="hotline")
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("HOTLINE_DEBUG"):
            traceback.print_exc()
        current = _state.get("settings")
        typer.echo(f"error: {explain(exc, current.database_url if current else None)}", err=True)
        sys.exit(1)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    migrate.upgrade(settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ("base" empties the schema)."""
    migrate.downgrade(settings().database_url, revision)
    typer.echo(f"database at {revision}")


def _print_errors(errors: DataErrors) -> None:
    for error in errors.errors:
        typer.echo(f"error: {error}", err=True)
    typer.echo(f"{len(errors.errors)} error(s); nothing was changed", err=True)


@data_app.command("check")
def data_check(
    directory: Annotated[Path | None, typer.Argument()] = None, sounds: SoundsOption = None
) -> None:
    """Validate the reference data files and the IVR flow without touching the database;
    with ``--sounds``, warn when a path of the flow is over its time budget."""
    from ivr.entry import load_ivr

    try:
        data = read_reference_data(directory or settings().data_dir)
        flow = load_ivr(settings().ivr_dir)
    except DataErrors as exc:
        _print_errors(exc)
        raise typer.Exit(1) from exc
    for name, rows in vars(data).items():
        typer.echo(f"{name}: {len(rows)} rows ok")
    typer.echo(f"ivr: {len(flow.nodes)} nodes, {len(flow.prompts)} prompts ok")
    if sounds is None:
        return
    try:
        table = _budget_rows(sounds)
    except KeyError as exc:
        typer.echo(f"warning: ivr budgets: {exc.args[0]} in {sounds}", err=True)
        return
    for row in table:
        if not row.within:
            typer.echo(
                f"warning: ivr budgets: {row.path}: worst case {row.worst:.1f} s from the "
                f"{row.since}, over its budget of {row.budget:g} s (`hotline ivr budgets`)",
                err=True,
            )


@data_app.command("load")
def data_load(directory: Annotated[Path | None, typer.Argument()] = None) -> None:
    """Validate, then load the reference data files in one transaction."""
    engine = make_engine(settings().database_url)
    try:
        summary = load_reference_data(engine, directory or settings().data_dir)
    except DataErrors as exc:
        _print_errors(exc)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    for name, counts in summary.items():
        typer.echo(
            f"{name}: {counts.added} added, {counts.updated} updated, "
            f"{counts.removed} removed, {counts.unchanged} unchanged"
        )


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help="agent, supervisor, inspector, unit or admin")],
    scope: Annotated[str, typer.Option(help="area code: the city (110000) or a district")],
    unit: Annotated[str | None, typer.Option(help="unit code, for unit accounts")] = None,
    name: Annotated[str, typer.Option(help="display name")] = "",
    sip_endpoint: Annotated[str | None, typer.Option(help="PJSIP endpoint of an agent")] = None,
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, envvar="HOTLINE_NEW_PASSWORD"
        ),
    ] = "",
) -> None:
    """Create a user (the first admin, for instance)."""
    engine = make_engine(settings().database_url)
    try:
        with transaction(engine) as session:
            add_user(
                session,
                username,
                password,
                role,
                scope,
                display_name=name,
                unit_code=unit,
                sip_endpoint=sip_endpoint,
            )
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(f"user {username} created")


@demo_app.command("load")
def demo_load() -> None:
    """Load the reference data and the demo accounts."""
    _prepare_demo(settings())


@demo_app.command("history")
def demo_history(
    days: Annotated[int | None, typer.Option(min=1, max=3660, help="Days of history.")] = None,
    per_day: Annotated[
        int | None, typer.Option(min=1, max=100_000, help="Cases a working day.")
    ] = None,
    seed: Annotated[int, typer.Option(help="The same seed writes the same history.")] = 1,
    cases: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=100_000_000,
            help="A city's volume: copy the history the services wrote, in bulk, until there "
            "are this many cases (for benchmarks; PostgreSQL recommended).",
        ),
    ] = None,
    calls_per_case: Annotated[
        float | None,
        typer.Option(min=0, max=100, help="With --cases: calls answered per case registered."),
    ] = None,
) -> None:
    """Write a plausible history of cases through the services (data/demo/history.toml);
    with --cases, copy it in bulk to a city's volume."""
    from hotline.demo_history import has_history

    current = settings()
    _prepare_demo(current, history=False)
    engine = make_engine(current.database_url)
    try:
        written = has_history(engine, seed)
    finally:
        engine.dispose()
    if written and cases is None:
        typer.echo(f"error: the history of seed {seed} is in the database already", err=True)
        raise typer.Exit(1)
    if not written:
        _write_history(current, days, per_day, seed)
    if cases is not None:
        _multiply_history(current, seed, cases, calls_per_case)


def _multiply_history(
    current: Settings, seed: int, cases: int, calls_per_case: float | None
) -> None:
    from hotline.demo_bulk import BulkError, BulkSummary, multiply_history

    def progress(done: BulkSummary) -> None:
        if done.copies % 20 == 0:
            typer.echo(f"  {done.cases} cases, {done.calls} calls …")

    typer.echo(f"Copying the history in bulk to {cases} cases …")
    engine = make_engine(current.database_url)
    try:
        done = multiply_history(engine, seed, cases, calls_per_case, progress)
    except BulkError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(f"  {done.copies} copies: {done.cases} cases, {done.calls} calls.")


def _write_history(current: Settings, days: int | None, per_day: int | None, seed: int) -> None:
    from hotline.demo_history import generate_history, load_mix

    engine = make_engine(current.database_url)
    try:
        mix = load_mix()
        typer.echo(
            f"Writing {days or mix.days} days of demo history "
            f"({per_day or mix.per_day} cases a working day) through the case services …"
        )
        done = generate_history(engine, mix, seed=seed, days=days, per_day=per_day)
    except DataErrors as exc:
        _print_errors(exc)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(
        f"  {done.calls} calls, {done.cases} cases, {done.steps} steps "
        f"({done.refused} refused on the way)."
    )


def _prepare_demo(current: Settings, history: bool = False) -> None:
    from hotline.demo import load_demo_users
    from hotline.demo_history import has_history

    migrate.upgrade(current.database_url)
    engine = make_engine(current.database_url)
    try:
        load_reference_data(engine, current.data_dir)
        logins = load_demo_users(engine)
        history = history and not has_history(engine)
    except DataErrors as exc:
        _print_errors(exc)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    if history:
        _write_history(current, None, None, 1)
    web = current.web
    typer.echo(f"\nDemo ready. Open http://{web.host}:{web.port}/ and log in as one of:")
    for login in logins:
        typer.echo(
            f"  {login['username']:<20} {login['password']:<16} "
            f"{login['role']:<11} {login['scope']}  {login['display_name']}"
        )


@grid_app.command("locate")
def grid_locate(lon: float, lat: float) -> None:
    """Print the grid cell containing a WGS84 point."""
    engine = make_engine(settings().database_url)
    with transaction(engine) as session:
        rows = session.execute(
            select(GridCell.code, GridCell.geometry).where(GridCell.active.is_(True))
        ).all()
    engine.dispose()
    code = GridIndex.from_geojson_rows((r.code, r.geometry) for r in rows).locate(lon, lat)
    if code is None:
        typer.echo("outside every grid cell", err=True)
        raise typer.Exit(1)
    typer.echo(code)


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option(help="Load reference data and demo accounts first.")
    ] = False,
    demo_history: Annotated[
        bool,
        typer.Option(help="With --demo: write months of demo history if there is none yet."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Run FastAGI and the call tracker, with the web pages in a child process of their own."""
    from hotline.service import logging_off_the_loop, new_event_loop, run

    if config is not None:
        _use_config(config)
    current = settings()
    if demo:
        _prepare_demo(current, history=demo_history)
    else:
        migrate.upgrade(current.database_url)
    with (
        logging_off_the_loop(),
        asyncio.Runner(loop_factory=lambda: new_event_loop(current.event_loop)) as runner,
    ):
        runner.run(run(current))


@dialplan_app.command("render")
def dialplan_render(
    out: Annotated[Path, typer.Option(help="Folder to write the *.conf files into.")],
    sip: Annotated[bool, typer.Option(help="Include PJSIP (agent phones, trunk).")] = True,
    node: Annotated[
        str,
        typer.Option(help="For this node (an ami entry's name) of several behind sip_proxy."),
    ] = "",
) -> None:
    """Render extensions.conf, queues.conf, pjsip.conf, manager.conf, ... from the data."""
    from dialplan.render import render

    _render_files(lambda current, engine: render(current, engine, out, sip=sip, node=node))


def _render_files(write: Callable[[Settings, Engine], list[Path]]) -> None:
    """Run a renderer on the settings and database; print the files, or the error."""
    from dialplan.render import RenderError

    engine = make_engine(settings().database_url)
    try:
        written = write(settings(), engine)
    except RenderError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    for path in written:
        typer.echo(str(path))


@dialplan_app.command("render-proxy")
def dialplan_render_proxy(
    out: Annotated[Path, typer.Option(help="Folder to write kamailio.cfg and dispatcher.list.")],
) -> None:
    """Render the SIP proxy's (Kamailio's) configuration: the nodes, the agents' phones."""
    from dialplan.render import render_proxy

    _render_files(lambda current, engine: render_proxy(current, engine, out))


@dialplan_app.command("sip-password")
def dialplan_sip_password(
    endpoint: Annotated[str, typer.Argument(help="The agent phone's PJSIP endpoint.")],
) -> None:
    """Print the SIP password of an agent phone, to set up its softphone."""
    from dialplan.render import sip_password

    secret = settings().sip_secret.get_secret_value()
    if not secret:
        typer.echo("error: sip_secret is not set (config file or HOTLINE_SIP_SECRET)", err=True)
        raise typer.Exit(1)
    typer.echo(sip_password(secret, endpoint))


@prompts_app.command("build")
def prompts_build(
    out: Annotated[Path, typer.Option(help="Sounds folder (Asterisk's sounds/hotline).")],
    force: Annotated[bool, typer.Option(help="Rebuild files that exist.")] = False,
) -> None:
    """Make 8 kHz WAV prompts from data/ivr/prompts.csv with espeak-ng and sox."""
    from ivr.audio import AudioToolMissing, build_prompts
    from ivr.entry import load_ivr

    try:
        flow = load_ivr(settings().ivr_dir)
        written = build_prompts(flow.prompts, out, force=force)
    except (DataErrors, AudioToolMissing) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{len(written)} prompt files written to {out}")


def _budget_rows(sounds: Path | None) -> list[PathTime]:
    """The worst-case table for the flow in the data and the audio in ``sounds`` (built
    into a scratch folder when None). Raises DataErrors, AudioToolMissing or KeyError (a
    prompt without audio)."""
    import tempfile

    from ivr.audio import build_prompts, durations
    from ivr.budgets import budget_table
    from ivr.entry import load_ivr
    from ivr.speech_setup import speech_config

    current = settings()
    flow = load_ivr(current.ivr_dir)
    with tempfile.TemporaryDirectory() as scratch:
        folder = sounds or Path(scratch)
        if sounds is None:
            build_prompts(flow.prompts, folder)
        lengths = durations(folder / flow.language, flow.prompts)
    speech = speech_config(current)
    return budget_table(
        flow,
        lengths,
        current.emergency_ring_seconds,
        speech.no_speech_seconds,
        speech.listen_seconds,
    )


@ivr_app.command("budgets")
def ivr_budgets(sounds: SoundsOption = None) -> None:
    """Each path's worst-case time to a person (prompt lengths, waits, retries) for the
    flow in the data and its audio (default: built now into a scratch folder), beside the
    budget; exit 1 if a path exceeds it."""
    from ivr.audio import AudioToolMissing

    try:
        rows = _budget_rows(sounds)
    except (DataErrors, AudioToolMissing) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]} in {sounds}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{'path':40} {'from':8} {'worst':>7} {'budget':>7}  route")
    for row in rows:
        mark = "" if row.within else "  OVER BUDGET"
        typer.echo(
            f"{row.path:40} {row.since:8} {row.worst:6.1f}s {row.budget:6.1f}s  {row.route}{mark}"
        )
    if not all(row.within for row in rows):
        raise typer.Exit(1)


@token_app.command("add")
def token_add(
    name: str,
    unit: Annotated[
        str | None, typer.Option(help="A unit's code: the token acts as that unit.")
    ] = None,
    scope: Annotated[
        str | None, typer.Option(help="For a platform token: the city's or a district's code.")
    ] = None,
    role: Annotated[
        str,
        typer.Option(
            help="For a platform token: agent (registers cases), dispatcher (works them) or "
            "supervisor."
        ),
    ] = "dispatcher",
) -> None:
    """Make an API token (REST API, Open311 api_key) with the role and scope of the people
    it stands for. It is printed once, stored hashed."""
    from hotline.tokens import TokenError, make_token

    engine = make_engine(settings().database_url)
    try:
        with transaction(engine) as session:
            token = make_token(
                session, name, "unit" if unit else role, unit_code=unit, scope_code=scope
            )
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(token)


@speech_app.command("check")
def speech_check(
    model: Annotated[
        Path | None, typer.Argument(help="Vosk model folder (default: speech_model_path).")
    ] = None,
    wav: Annotated[
        Path | None,
        typer.Option(
            help="A recording to recognize (8 kHz mono 16-bit WAV); default: 东城区 "
            "said by espeak-ng."
        ),
    ] = None,
) -> None:
    """Check an installed model: it loads, takes the gazetteer's grammar and decodes."""
    import time
    import wave

    from ivr.audio import synthesize
    from ivr.speech import Recognizers
    from ivr.speech_setup import load_matcher

    folder = model or settings().speech_model_path
    if folder is None:
        typer.echo("error: no model: give its folder or set speech_model_path", err=True)
        raise typer.Exit(1)
    engine = make_engine(settings().database_url)
    try:
        matcher = load_matcher(engine)
    finally:
        engine.dispose()
    started = time.perf_counter()
    try:
        recognizers = Recognizers.load(folder, matcher.phrases(), warm=1)
    except Exception as exc:  # the vosk package missing, a wrong folder, a broken model
        typer.echo(f"error: cannot load a Vosk model from {folder}: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"model {folder} loaded in {time.perf_counter() - started:.1f} s")
    typer.echo(f"grammar: {len(matcher.phrases())} names and aliases from the gazetteer")
    if wav is None:
        import tempfile

        wav = synthesize("东城区", Path(tempfile.mkdtemp()) / "check.wav", "cmn")
    with wave.open(str(wav)) as audio:
        if (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) != (8000, 1, 2):
            typer.echo(f"error: {wav} is not 8 kHz mono 16-bit", err=True)
            raise typer.Exit(1)
        pcm = audio.readframes(audio.getnframes())
    decoder = recognizers.take()
    started = time.perf_counter()
    decoder.accept(pcm)
    result = json.loads(decoder.final())
    spent = time.perf_counter() - started
    text = str(result.get("text", ""))
    place = matcher.match(text) if text else None
    typer.echo(f"heard {text!r} -> {place.district if place else 'no place'}")
    typer.echo(f"real-time factor {spent / (len(pcm) / 16000):.3f}")


@calls_app.command("close-node")
def calls_close_node(
    node: Annotated[str, typer.Argument(help="The lost node's name (calls.node, an ami name).")],
    at: Annotated[
        str,
        typer.Option(
            help="When the node was lost (ISO 8601, e.g. 2026-12-03T03:00+08:00; default: "
            "now): the calls end then, or at their last event if that is later."
        ),
    ] = "",
) -> None:
    """Close the call records still open on an Asterisk node that is gone for good (outcome
    node_lost). Refused while the node's AMI port answers: a node that is up has its
    records closed from its own channels by the app."""
    import datetime as dt

    from hotline.calls.lost import close_node_calls

    try:
        lost_at = dt.datetime.fromisoformat(at) if at else dt.datetime.now(dt.UTC)
    except ValueError as exc:
        typer.echo(f"error: --at: not an ISO 8601 time: {at!r}", err=True)
        raise typer.Exit(2) from exc
    if lost_at.tzinfo is None:
        typer.echo("error: --at: give the offset too (e.g. +08:00)", err=True)
        raise typer.Exit(2)
    configured = next((n for n in settings().ami if n.name == node), None)
    if configured is not None and _answers(configured.host, configured.port):
        typer.echo(
            f"error: node {node} answers on {configured.host}:{configured.port}: its records "
            "are closed from its own channels by the app (not closing)",
            err=True,
        )
        raise typer.Exit(1)
    engine = make_engine(settings().database_url)
    try:
        with engine.begin() as connection:
            closed = close_node_calls(connection, node, lost_at, "operator")
    finally:
        engine.dispose()
    typer.echo(f"closed {len(closed)} call records of node {node} (outcome node_lost)")


def _answers(host: str, port: int, timeout: float = 3.0) -> bool:
    """Something accepts TCP connections on host:port (a node's AMI)."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
