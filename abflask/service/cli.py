"""The ``flask`` / ``abflask`` commands the factory registers on ``app.cli``.

Each command builds the JSON payload the admin API would get and makes the
same call to ``service.management``, so validation and errors are identical.
Experiments and the analysis job are here, flags and segments in
``cli_targeting``, shared option helpers in ``cli_options``. Never imports the
factory module, nor ``abflask.analysis``: ``analyze`` runs the job as a child
process, so pandas never loads in the service.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from abflask import config
from abflask.service import management
from abflask.service.cli_options import (
    BODY,
    DomainGroup,
    changes_from,
    echo_json,
    json_option,
    names_option,
    object_option,
    options,
    parse_word,
    payload_from,
    scalar_option,
    table,
    values_option,
    with_key,
)
from abflask.service.cli_targeting import flags, segments
from abflask.service.extension import get_services

# -- experiments --------------------------------------------------------------


def _metrics(ctx: click.Context, param: click.Parameter, raw: str | None) -> Any:
    """Event keys (``buy,view``), or the API's JSON list of metrics (``[...]``)."""
    if raw is not None and raw.lstrip().startswith("["):
        return json_option(raw, list, "a JSON list of metrics")
    return names_option(ctx, param, raw)


def _namespace(ctx: click.Context, param: click.Parameter, raw: str | None) -> Any:
    if raw is None or raw == "null":
        return None
    parts = raw.split(":")
    if len(parts) != 3:
        raise click.BadParameter("must be ID:START:END, e.g. checkout:0:0.5")
    return {"id": parts[0], "range": [parse_word(parts[1]), parse_word(parts[2])]}


experiments = DomainGroup("experiments", help="Create, change and inspect experiments.")

EXPERIMENT_OPTIONS = options(
    click.option("--name", help="Display name (default: the key)."),
    click.option(
        "--variations",
        callback=names_option,
        help="Comma-separated names, control first.",
    ),
    click.option(
        "--weights", callback=values_option, help="Comma-separated shares summing to 1."
    ),
    click.option(
        "--coverage", callback=scalar_option, help="Share of users included, 0-1."
    ),
    click.option("--seed", help="Hashing seed (default: the key)."),
    click.option("--hash-version", callback=scalar_option, help="1 or 2 (default 2)."),
    click.option(
        "--max-participants",
        callback=scalar_option,
        help="Enrollment cap; null for none.",
    ),
    click.option(
        "--metrics",
        callback=_metrics,
        metavar="KEYS|JSON",
        help="Comma-separated event keys, primary first, or a JSON list of metrics.",
    ),
    click.option(
        "--analysis",
        callback=object_option,
        metavar="JSON",
        help="Analysis settings as a JSON object, e.g. '{\"alpha\": 0.01}'.",
    ),
    click.option(
        "--namespace",
        callback=_namespace,
        metavar="ID:START:END",
        help="Exclusive range of a namespace, e.g. checkout:0:0.5.",
    ),
    click.option(
        "--condition",
        callback=object_option,
        metavar="JSON",
        help="Who may enter: a targeting condition; null for everyone.",
    ),
    click.option(
        "--segments",
        callback=names_option,
        metavar="KEYS",
        help="Comma-separated condition segments a user must match ('' for none).",
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
        echo_json({"experiments": [e.to_dict() for e in found]})
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
    click.echo(table(("key", "status", "variations", "participants"), rows))


@experiments.command("show")
@click.argument("key")
def show_experiment(key: str) -> None:
    """Print an experiment's definition and live counts (as GET /experiments/KEY)."""
    echo_json(management.describe_experiment(get_services(), key))


@experiments.command("counts")
@click.argument("key")
def experiment_counts(key: str) -> None:
    """Print an experiment's live participants and event counts."""
    found = management.describe_experiment(get_services(), key)
    counts = found["counts"]
    click.echo(f"{key} ({found['status']}): {counts['participants']} participants")
    per_variation = [(v["name"], v["participants"]) for v in counts["variations"]]
    click.echo(table(("variation", "participants"), per_variation))
    events = [
        (event, v["name"], cell["users"], cell["count"], f"{cell['sum']:g}")
        for v in counts["variations"]
        for event, cell in v["events"].items()
    ]
    if events:
        events.sort(key=lambda row: row[0])  # stable: variations stay in order
        click.echo()
        click.echo(table(("event", "variation", "users", "count", "sum"), events))


@experiments.command("create")
@click.argument("key")
@EXPERIMENT_OPTIONS
def create_experiment(key: str, body: str | None, **fields: Any) -> None:
    """Create a draft experiment KEY (as POST /experiments) and print it."""
    payload = with_key(key, payload_from(body, fields))
    created = management.create_experiment(get_services(), payload, time.time())
    echo_json(created.to_dict())


@experiments.command("patch")
@click.argument("key")
@EXPERIMENT_OPTIONS
def patch_experiment(key: str, body: str | None, **fields: Any) -> None:
    """Change an experiment (as PATCH /experiments/KEY) and print it."""
    payload = changes_from(body, fields)
    changed = management.patch_experiment(get_services(), key, payload, time.time())
    echo_json(changed.to_dict())


@experiments.command("new-phase")
@click.argument("key")
@click.option(
    "--weights", callback=values_option, help="New comma-separated shares summing to 1."
)
def new_phase(key: str, weights: Any) -> None:
    """Begin a phase (as POST /experiments/KEY/phases); print the experiment.

    The phase keeps the current weights unless --weights gives new ones; the
    experiment must be running or stopped.
    """
    payload = {} if weights is None else {"weights": weights}
    echo_json(management.new_phase(get_services(), key, payload, time.time()).to_dict())


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
    for command in (experiments, flags, segments, analyze):
        app.cli.add_command(command)
