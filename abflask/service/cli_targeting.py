"""The ``flags`` and ``segments`` commands: targeting definitions.

Each command builds the JSON body the admin API would get and makes the same
call to ``service.management`` (``cli`` registers the groups).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

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
    payload_from,
    scalar_option,
    share,
    table,
    with_key,
)
from abflask.service.extension import get_services


def list_option(ctx: click.Context, param: click.Parameter, raw: str | None) -> Any:
    """A JSON list as the API takes it; ``null`` as such."""
    if raw is None or raw == "null":
        return None
    return json_option(raw, list, "a JSON list")


def segment_values(ctx: click.Context, param: click.Parameter, raw: str | None) -> Any:
    """Comma-separated values, or ``@FILE`` with one per line; always strings
    (user ids are strings: ``$inGroup`` compares them as JSON)."""
    if raw is None or not raw.startswith("@"):
        return names_option(ctx, param, raw)
    try:
        text = Path(raw[1:]).read_text()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {raw[1:]}: {exc.strerror}") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


# -- feature flags ------------------------------------------------------------

flags = DomainGroup("flags", help="Create, change and inspect feature flags.")

FLAG_OPTIONS = options(
    click.option("--enabled/--disabled", default=None, help="Turn the flag on or off."),
    click.option(
        "--rollout", callback=scalar_option, help="Share of users it is on for."
    ),
    click.option("--seed", help="Hashing seed (default: the key)."),
    click.option("--description", help="What the flag is for."),
    click.option(
        "--value",
        callback=scalar_option,
        metavar="JSON",
        help="What the base rollout serves (default true); a word is a string.",
    ),
    click.option(
        "--default",
        callback=scalar_option,
        metavar="JSON",
        help="What it serves otherwise (default false); a word is a string.",
    ),
    click.option(
        "--requires",
        callback=names_option,
        metavar="KEYS",
        help="Comma-separated flags that must be on first ('' for none).",
    ),
    click.option(
        "--rules",
        callback=list_option,
        metavar="JSON",
        help="The rules as the API's JSON list (null for none).",
    ),
    BODY,
)


@flags.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the admin API's JSON.")
def list_flags(as_json: bool) -> None:
    """List every flag."""
    found = management.list_flags(get_services())
    if as_json:
        echo_json({"flags": [f.to_dict() for f in found]})
        return
    if not found:
        click.echo("no flags")
        return
    rows = [
        (
            f.key,
            "on" if f.enabled else "off",
            share(f.rollout),
            len(f.rules),
            ",".join(f.requires) or "-",
            f.description,
        )
        for f in found
    ]
    headers = ("key", "enabled", "rollout", "rules", "requires", "description")
    click.echo(table(headers, rows))


@flags.command("show")
@click.argument("key")
def show_flag(key: str) -> None:
    """Print a flag's definition (as GET /flags/KEY/definition)."""
    echo_json(management.get_flag(get_services(), key).to_dict())


@flags.command("create")
@click.argument("key")
@FLAG_OPTIONS
def create_flag(key: str, body: str | None, **fields: Any) -> None:
    """Create flag KEY (as POST /flags) and print it."""
    payload = with_key(key, payload_from(body, fields))
    echo_json(management.create_flag(get_services(), payload, time.time()).to_dict())


@flags.command("update")
@click.argument("key")
@FLAG_OPTIONS
def update_flag(key: str, body: str | None, **fields: Any) -> None:
    """Change a flag (as PATCH /flags/KEY) and print it."""
    payload = changes_from(body, fields)
    flag = management.patch_flag(get_services(), key, payload, time.time())
    echo_json(flag.to_dict())


@flags.command("delete")
@click.argument("key")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_flag(key: str, yes: bool) -> None:
    """Remove a flag (asks first unless --yes); fails while others require it."""
    svc = get_services()
    management.get_flag(svc, key)
    if not yes:
        click.confirm(f"Delete flag {key!r}?", abort=True)
    management.delete_flag(svc, key)
    click.echo(f"deleted flag {key!r}")


# -- segments -----------------------------------------------------------------

segments = DomainGroup(
    "segments", help="Create, change and inspect segments (saved targeting)."
)

SEGMENT_OPTIONS = options(
    click.option(
        "--values",
        callback=segment_values,
        metavar="IDS|@FILE",
        help="A list segment: comma-separated values, or @FILE with one per line.",
    ),
    click.option(
        "--condition",
        callback=object_option,
        metavar="JSON",
        help="A condition segment: the condition as a JSON object.",
    ),
    click.option("--description", help="What the segment is for."),
    BODY,
)


def _summary(segment: Any) -> str:
    if segment.values is not None:
        return f"{len(segment.values)} values"
    shown = json.dumps(segment.condition, separators=(",", ":"))
    return shown if len(shown) <= 60 else shown[:57] + "..."


@segments.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the admin API's JSON.")
def list_segments(as_json: bool) -> None:
    """List every segment: its kind and what it holds."""
    found = management.list_segments(get_services())
    if as_json:
        echo_json({"segments": [s.to_dict() for s in found]})
        return
    if not found:
        click.echo("no segments")
        return
    rows = [(s.key, s.kind, _summary(s), s.description) for s in found]
    click.echo(table(("key", "kind", "holds", "description"), rows))


@segments.command("show")
@click.argument("key")
def show_segment(key: str) -> None:
    """Print a segment and who uses it (as GET /segments/KEY)."""
    svc = get_services()
    found = management.get_segment(svc, key).to_dict()
    echo_json({**found, "used_by": management.segment_users(svc, key)})


@segments.command("create")
@click.argument("key")
@SEGMENT_OPTIONS
def create_segment(key: str, body: str | None, **fields: Any) -> None:
    """Create segment KEY (as POST /segments) and print it."""
    payload = with_key(key, payload_from(body, fields))
    created = management.create_segment(get_services(), payload, time.time())
    echo_json(created.to_dict())


@segments.command("update")
@click.argument("key")
@SEGMENT_OPTIONS
def update_segment(key: str, body: str | None, **fields: Any) -> None:
    """Change a segment (as PATCH /segments/KEY) and print it."""
    payload = changes_from(body, fields)
    changed = management.patch_segment(get_services(), key, payload, time.time())
    echo_json(changed.to_dict())


@segments.command("delete")
@click.argument("key")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_segment(key: str, yes: bool) -> None:
    """Remove a segment (asks first unless --yes); fails while anything uses it."""
    svc = get_services()
    management.get_segment(svc, key)
    if not yes:
        click.confirm(f"Delete segment {key!r}?", abort=True)
    management.delete_segment(svc, key)
    click.echo(f"deleted segment {key!r}")
