"""Option values, request bodies and output shared by the command groups.

The light rule that turns command-line words into the admin API's JSON, the
``--json`` body option, and tables. Commands live in ``cli`` (experiments,
the analysis job) and ``cli_targeting`` (flags, segments).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource
from flask.cli import AppGroup

from abflask.core.fields import fail, parse_json_body
from abflask.errors import AbflaskError

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


# -- option values ------------------------------------------------------------


def parse_word(raw: str) -> Any:
    """A JSON number, ``true``/``false`` or ``null`` as such; else the string."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def names_option(ctx: click.Context, param: click.Parameter, raw: str | None) -> Any:
    """Comma-separated names as a list (empty items dropped)."""
    return None if raw is None else [x.strip() for x in raw.split(",") if x.strip()]


def values_option(ctx: click.Context, param: click.Parameter, raw: str | None) -> Any:
    """Comma-separated words as a list, each read by ``parse_word``."""
    return None if raw is None else [parse_word(x.strip()) for x in raw.split(",")]


def scalar_option(ctx: click.Context, param: click.Parameter, raw: str | None) -> Any:
    """One word read by ``parse_word``."""
    return None if raw is None else parse_word(raw)


def json_option(raw: str, kind: type, what: str) -> Any:
    """An option given as JSON text: a list or an object (``kind``)."""
    try:
        value = parse_json_body(raw)
    except AbflaskError as exc:
        raise click.BadParameter(exc.message.removeprefix("body: ")) from exc
    if not isinstance(value, kind):
        raise click.BadParameter(f"must be {what}")
    return value


def object_option(ctx: click.Context, param: click.Parameter, raw: str | None) -> Any:
    """A JSON object as the API takes it; ``null`` as such (defaults, for a patch)."""
    if raw is None or raw == "null":
        return None
    return json_option(raw, dict, "a JSON object")


def read_body(spec: str) -> dict[str, Any]:
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


def payload_from(body: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    """``--json``'s object overlaid with the options given on the command line."""
    ctx = click.get_current_context()
    given = {
        name: value
        for name, value in fields.items()
        if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
    }
    return {**(read_body(body) if body is not None else {}), **given}


def with_key(key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A create body: ``payload`` with ``key`` (a different ``key`` is an error)."""
    if payload.get("key", key) != key:
        raise fail("key", f"{payload['key']!r} in --json differs from KEY {key!r}")
    return {**payload, "key": key}


def changes_from(body: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    """A PATCH body: ``payload_from``, which must not be empty (a usage error)."""
    payload = payload_from(body, fields)
    if not payload:
        raise click.UsageError("nothing to change: give an option or --json")
    return payload


def options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator applying ``decorators`` (click options) in order."""

    def apply(fn: F) -> F:
        for option in reversed(decorators):
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


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    click.echo(json.dumps(data, indent=2))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns two spaces apart, under upper-case headers."""
    cells = [[h.upper() for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def share(value: float) -> str:
    """A share as a percentage: ``0.25`` → ``25%``."""
    return f"{value * 100:g}%"
