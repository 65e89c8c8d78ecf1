"""The ``flask`` / ``abflask`` commands the factory registers on ``app.cli``.

Each command builds the JSON payload the admin API would get and makes the
same call to ``service.management``, so validation and errors are identical.
Never imports the factory module, nor ``abflask.analysis``: ``analyze`` runs
the job as a child process, so pandas never loads in the service.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from abflask import config
from abflask.core.fields import fail, parse_json_body
from abflask.errors import AbflaskError
from abflask.service import management
from abflask.service.extension import get_services

F = TypeVar("F", bound=Callable[..., Any])


class DomainCommand(click.Command):
    """A command that reports an ``AbflaskError`` as its message, exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AbflaskError as exc:
            raise click.ClickException(exc.message) from exc


class DomainGroup(AppGroup):
    """Commands that run in the app context and report domain errors."""

    command_class = DomainCommand


# -- option values: the light rule that turns words into the API's JSON -------


def _value(raw: str) -> Any:
    """A JSON number, ``true``/``false`` or ``null`` as such; else the string."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _names(ctx: click.Context, param: click.Parameter, raw: str | None) -> Any:
    return None if raw is None else [x.strip() for x in raw.split(",") if x.strip()]


def _values(ctx: click.Context, param: click.Parameter, raw: str | None) -> Any:
    return None if raw is None else [_value(x.strip()) for x in raw.split(",")]


def _scalar(ctx: click.Context, param: click.Parameter, raw: str | None) -> Any:
    return None if raw is None else _value(raw)


def _json_option(raw: str, kind: type, what: str) -> Any:
    """An option given as JSON text: a list or an object (``kind``)."""
    try:
        value = parse_json_body(raw)
    except AbflaskError as exc:
        raise click.BadParameter(exc.message.removeprefix("body: ")) from exc
    if not isinstance(value, kind):
        raise click.BadParameter(f"must be {what}")
    return value


def _metrics(ctx: click.Context, param: click.Parameter, raw: str | None) -> Any:
    """Event keys (``buy,view``), or the API's JSON list of metrics (``[...]``)."""
    if raw is not None and raw.lstrip().startswith("["):
        return _json_option(raw, list, "a JSON list of metrics")
    return _names(ctx, param, raw)


def _object(ctx: click.Context, param: click.Parameter, raw: str | None) -> Any:
    """A JSON object as the API takes it; ``null`` as such (defaults, for a patch)."""
    if raw is None or raw == "null":
        return None
    return _json_option(raw, dict, "a JSON object")


def _namespace(ctx: click.Context, param: click.Parameter, raw: str | None) -> Any:
    if raw is None or raw == "null":
        return None
    parts = raw.split(":")
    if len(parts) != 3:
        raise click.BadParameter("must be ID:START:END, e.g. checkout:0:0.5")
    return {"id": parts[0], "range": [_value(parts[1]), _value(parts[2])]}


def _read_body(spec: str) -> dict[str, Any]:
    """``--json``: a JSON object given inline, as ``@FILE`` or as ``-`` (stdin).

    Raises the admin API's errors for an empty, malformed or non-object body.
    """
    if spec == "-":
        raw = sys.stdin.read()
    elif spec.startswith("@"):
        try:
            raw = Path(spec[1:]).read_text()
        except OSError as exc:
            raise click.BadParameter(
                f"cannot read {spec[1:]}: {exc.strerror}", param_hint="'--json'"
            ) from exc
    else:
        raw = spec
    body = parse_json_body(raw)
    if not isinstance(body, dict):
        raise fail("body", "must be a JSON object")
    return body


def _payload(body: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    """``--json``'s object overlaid with the options given on the command line."""
    ctx = click.get_current_context()
    given = {
        name: value
        for name, value in fields.items()
        if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
    }
    return {**(_read_body(body) if body is not None else {}), **given}


def _with_key(key: str, payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("key", key) != key:
        raise fail("key", f"{payload['key']!r} in --json differs from KEY {key!r}")
    return {**payload, "key": key}


def _changes(body: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    payload = _payload(body, fields)
    if not payload:
        raise click.UsageError("nothing to change: give an option or --json")
    return payload


def _options(*options: Callable[[F], F]) -> Callable[[F], F]:
    def apply(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


BODY = click.option(
    "--json",
    "body",
    metavar="BODY|@FILE|-",
    help="A JSON object as the admin API takes it; options override its fields.",
)

# -- output -------------------------------------------------------------------


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns two spaces apart, under upper-case headers."""
    cells = [[h.upper() for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def _share(value: float) -> str:
    return f"{value * 100:g}%"


# -- experiments --------------------------------------------------------------

experiments = DomainGroup("experiments", help="Create, change and inspect experiments.")

EXPERIMENT_OPTIONS = _options(
    click.option("--name", help="Display name (default: the key)."),
    click.option(
        "--variations", callback=_names, help="Comma-separated names, control first."
    ),
    click.option(
        "--weights", callback=_values, help="Comma-separated shares summing to 1."
    ),
    click.option("--coverage", callback=_scalar, help="Share of users included, 0-1."),
    click.option("--seed", help="Hashing seed (default: the key)."),
    click.option("--hash-version", callback=_scalar, help="1 or 2 (default 2)."),
    click.option(
        "--max-participants", callback=_scalar, help="Enrollment cap; null for none."
    ),
    click.option(
        "--metrics",
        callback=_metrics,
        metavar="KEYS|JSON",
        help="Comma-separated event keys, primary first, or a JSON list of metrics.",
    ),
    click.option(
        "--analysis",
        callback=_object,
        metavar="JSON",
        help="Analysis settings as a JSON object, e.g. '{\"alpha\": 0.01}'.",
    ),
    click.option(
        "--namespace",
        callback=_namespace,
        metavar="ID:START:END",
        help="Exclusive range of a namespace, e.g. checkout:0:0.5.",
    ),
    BODY,
)


@experiments.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the admin API's JSON.")
def list_experiments(as_json: bool) -> None:
    """List every experiment with its status and participants."""
    svc = get_services()
    found = management.list_experiments(svc)
    if as_json:
        _echo_json({"experiments": [e.to_dict() for e in found]})
        return
    if not found:
        click.echo("no experiments")
        return
    rows = [
        (
            e.key,
            e.status,
            ", ".join(e.variations),
            svc.store.counters(e)["participants"],
        )
        for e in found
    ]
    click.echo(_table(("key", "status", "variations", "participants"), rows))


@experiments.command("show")
@click.argument("key")
def show_experiment(key: str) -> None:
    """Print an experiment's definition and live counts (as GET /experiments/KEY)."""
    _echo_json(management.describe_experiment(get_services(), key))


@experiments.command("counts")
@click.argument("key")
def experiment_counts(key: str) -> None:
    """Print an experiment's live participants and event counts."""
    found = management.describe_experiment(get_services(), key)
    counts = found["counts"]
    click.echo(f"{key} ({found['status']}): {counts['participants']} participants")
    per_variation = [(v["name"], v["participants"]) for v in counts["variations"]]
    click.echo(_table(("variation", "participants"), per_variation))
    events = [
        (event, v["name"], cell["users"], cell["count"], f"{cell['sum']:g}")
        for v in counts["variations"]
        for event, cell in v["events"].items()
    ]
    if events:
        events.sort(key=lambda row: row[0])  # stable: variations stay in order
        click.echo()
        click.echo(_table(("event", "variation", "users", "count", "sum"), events))


@experiments.command("create")
@click.argument("key")
@EXPERIMENT_OPTIONS
def create_experiment(key: str, body: str | None, **fields: Any) -> None:
    """Create a draft experiment KEY (as POST /experiments) and print it."""
    payload = _with_key(key, _payload(body, fields))
    created = management.create_experiment(get_services(), payload, time.time())
    _echo_json(created.to_dict())


@experiments.command("patch")
@click.argument("key")
@EXPERIMENT_OPTIONS
def patch_experiment(key: str, body: str | None, **fields: Any) -> None:
    """Change an experiment (as PATCH /experiments/KEY) and print it."""
    payload = _changes(body, fields)
    changed = management.patch_experiment(get_services(), key, payload, time.time())
    _echo_json(changed.to_dict())


@experiments.command("new-phase")
@click.argument("key")
@click.option(
    "--weights", callback=_values, help="New comma-separated shares summing to 1."
)
def new_phase(key: str, weights: Any) -> None:
    """Begin a phase (as POST /experiments/KEY/phases); print the experiment.

    The phase keeps the current weights unless --weights gives new ones; the
    experiment must be running or stopped.
    """
    payload = {} if weights is None else {"weights": weights}
    _echo_json(
        management.new_phase(get_services(), key, payload, time.time()).to_dict()
    )


@experiments.command("start")
@click.argument("key")
def start_experiment(key: str) -> None:
    """draft or stopped → running."""
    started = management.start_experiment(get_services(), key, time.time())
    click.echo(f"experiment {started.key!r} is {started.status}")


@experiments.command("stop")
@click.argument("key")
def stop_experiment(key: str) -> None:
    """running → stopped (everyone gets the first variation)."""
    stopped = management.stop_experiment(get_services(), key, time.time())
    click.echo(f"experiment {stopped.key!r} is {stopped.status}")


@experiments.command("complete")
@click.argument("key")
@click.option("--winner", required=True, help="The variation everyone gets.")
def complete_experiment(key: str, winner: str) -> None:
    """running or stopped → completed: everyone gets the winner."""
    done = management.complete_experiment(get_services(), key, winner, time.time())
    shipped = done.to_dict()["winner"]
    click.echo(f"experiment {done.key!r} is {done.status}; everyone gets {shipped!r}")


@experiments.command("delete")
@click.argument("key")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_experiment(key: str, yes: bool) -> None:
    """Remove an experiment and all its data (asks first unless --yes)."""
    svc = get_services()
    management.get_experiment(svc, key)  # an unknown key fails before the question
    if not yes:
        click.confirm(f"Delete experiment {key!r} and all its data?", abort=True)
    management.delete_experiment(svc, key)
    click.echo(f"deleted experiment {key!r}")


# -- feature flags ------------------------------------------------------------

flags = DomainGroup("flags", help="Create, change and inspect feature flags.")

FLAG_OPTIONS = _options(
    click.option("--enabled/--disabled", default=None, help="Turn the flag on or off."),
    click.option("--rollout", callback=_scalar, help="Share of users it is on for."),
    click.option("--seed", help="Hashing seed (default: the key)."),
    click.option("--description", help="What the flag is for."),
    BODY,
)


@flags.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the admin API's JSON.")
def list_flags(as_json: bool) -> None:
    """List every flag."""
    found = management.list_flags(get_services())
    if as_json:
        _echo_json({"flags": [f.to_dict() for f in found]})
        return
    if not found:
        click.echo("no flags")
        return
    rows = [
        (f.key, "on" if f.enabled else "off", _share(f.rollout), f.description)
        for f in found
    ]
    click.echo(_table(("key", "enabled", "rollout", "description"), rows))


@flags.command("show")
@click.argument("key")
def show_flag(key: str) -> None:
    """Print a flag's definition (as GET /flags/KEY/definition)."""
    _echo_json(management.get_flag(get_services(), key).to_dict())


@flags.command("create")
@click.argument("key")
@FLAG_OPTIONS
def create_flag(key: str, body: str | None, **fields: Any) -> None:
    """Create flag KEY (as POST /flags) and print it."""
    payload = _with_key(key, _payload(body, fields))
    _echo_json(management.create_flag(get_services(), payload, time.time()).to_dict())


@flags.command("update")
@click.argument("key")
@FLAG_OPTIONS
def update_flag(key: str, body: str | None, **fields: Any) -> None:
    """Change a flag (as PATCH /flags/KEY) and print it."""
    payload = _changes(body, fields)
    flag = management.patch_flag(get_services(), key, payload, time.time())
    _echo_json(flag.to_dict())


@flags.command("delete")
@click.argument("key")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_flag(key: str, yes: bool) -> None:
    """Remove a flag (asks first unless --yes)."""
    svc = get_services()
    management.get_flag(svc, key)
    if not yes:
        click.confirm(f"Delete flag {key!r}?", abort=True)
    management.delete_flag(svc, key)
    click.echo(f"deleted flag {key!r}")


# -- the analysis job ---------------------------------------------------------


@click.command(
    "analyze",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@with_appcontext
def analyze(args: tuple[str, ...]) -> None:
    """Run the analysis job on this app's Redis (`analyze --help` lists ARGS)."""
    settings = current_app.config
    env = config.child_environment(
        REDIS_URL=str(settings["REDIS_URL"]),
        ABFLASK_KEY_PREFIX=str(settings["ABFLASK_KEY_PREFIX"]),
        ABFLASK_DATA_DIR=str(settings["ABFLASK_DATA_DIR"]),
        ABFLASK_REDIS_TIMEOUT=str(settings["ABFLASK_REDIS_TIMEOUT"]),
    )
    command = [sys.executable, "-m", "abflask.analysis", *args]
    # The report is copied through click's stdout (so it is captured where
    # click output is); logs and the progress bar go straight to stderr.
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE) as child:
        assert child.stdout is not None
        for line in child.stdout:
            click.echo(line, nl=False)
    click.get_current_context().exit(child.returncode)


def register(app: Flask) -> None:
    """Add the commands to ``app.cli`` (``flask --app wsgi --help`` lists them)."""
    for command in (experiments, flags, analyze):
        app.cli.add_command(command)
