"""The dashboard's forms, read into the API's JSON bodies.

A form only changes how fields are typed (comma lists, percentages); every
rule is the API's own, applied by ``management``. A value that cannot even
be read (``weights`` that are not numbers, ``analysis`` that is not JSON)
raises ``ValidationError`` naming its field, like the API's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from abflask.core.experiment import Experiment
from abflask.core.fields import fail
from abflask.core.metric import parse_metrics

EXPERIMENT_FORM = (
    "key",
    "name",
    "variations",
    "weights",
    "coverage",
    "metrics",
    "analysis",
    "condition",
    "segments",
)
"""The create and edit form's fields, in order."""

SEGMENT_FORM = ("key", "description", "values", "condition")
"""The segment form's fields: a list segment fills ``values``, a condition
segment ``condition``."""


def locked(exp: Experiment | None) -> tuple[str, ...]:
    """Fields the form shows but cannot change: the key, and the variations
    once the experiment has started."""
    if exp is None:
        return ()
    return ("key",) if exp.status == "draft" else ("key", "variations")


def form_field(path: str) -> str:
    """The form field of an API error path: ``metrics[0].type`` → ``metrics``."""
    found = re.match(r"[A-Za-z_]+", path)
    return found.group() if found else path


def _numbers(raw: str, name: str) -> list[float]:
    try:
        return [float(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise fail(name, "must be numbers separated by commas, e.g. 0.5, 0.5") from None


def _json(raw: str, name: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise fail(name, f"is not valid JSON ({exc.msg}, line {exc.lineno})") from None


def _names(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def experiment_body(form: Mapping[str, str]) -> dict[str, Any]:
    """A create body from the form's filled-in fields (blank ones are left out)."""
    body: dict[str, Any] = {}
    for name in EXPERIMENT_FORM:
        raw = (form.get(name) or "").strip()
        if raw:
            body[name] = _value(name, raw)
    return body


def _value(name: str, raw: str) -> Any:
    if name == "variations":
        return _names(raw)
    if name == "weights":
        return _numbers(raw, name)
    if name == "coverage":
        numbers = _numbers(raw, name)
        if len(numbers) != 1:
            raise fail(name, "must be one number from 0 to 1")
        return numbers[0]
    if name == "metrics":
        return _json(raw, name) if raw.startswith(("[", "{")) else _names(raw)
    if name in ("analysis", "condition"):
        return _json(raw, name)
    if name == "segments":
        return _names(raw)
    return raw


def patch_body(form: Mapping[str, str], exp: Experiment) -> dict[str, Any]:
    """A PATCH body with just the fields the form changed.

    Fields not in the form (locked ones are sent disabled) are left alone; a
    field emptied resets to its default (``null``); a field left as it was is
    not sent, so a running experiment's unchanged locked fields never conflict.
    """
    current = exp.to_dict()
    body: dict[str, Any] = {}
    for name in EXPERIMENT_FORM:
        if name not in form:
            continue
        raw = form[name].strip()
        value = _value(name, raw) if raw else None
        if value == current.get(name):
            continue
        if name == "metrics" and _same_metrics(value, exp):
            continue
        if name == "name" and value is None and current["name"] == exp.key:
            continue
        body[name] = value
    return body


def _same_metrics(value: Any, exp: Experiment) -> bool:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [m.event for m in exp.metrics] == value and all(
            m.to_dict() == _default_metric(m.event) for m in exp.metrics
        )
    return value is None and not exp.metrics


def _default_metric(event: str) -> dict[str, Any]:
    return parse_metrics([event])[0].to_dict()


def flag_body(form: Mapping[str, str]) -> dict[str, Any]:
    """A flag PATCH from the list's flag form: ``enabled`` and/or ``rollout`` in %."""
    body: dict[str, Any] = {}
    enabled = form.get("enabled")
    if enabled is not None:
        if enabled not in ("true", "false"):
            raise fail("enabled", "must be true or false")
        body["enabled"] = enabled == "true"
    rollout = (form.get("rollout") or "").strip().removesuffix("%").strip()
    if rollout:
        try:
            share = float(rollout) / 100
        except ValueError:
            raise fail("rollout", "must be a percentage from 0 to 100") from None
        body["rollout"] = share
    return body


def segment_body(form: Mapping[str, str], kind: str) -> dict[str, Any]:
    """A segment's create or PATCH body for a segment of ``kind`` (``list``:
    values one per line or comma-separated; ``condition``: JSON). Only the
    field of that kind is read, so an edit never changes the kind."""
    body: dict[str, Any] = {
        name: form[name].strip() for name in ("key", "description") if name in form
    }
    if kind == "list":
        values = form.get("values") or ""
        body["values"] = [v.strip() for v in re.split(r"[,\n]", values) if v.strip()]
        return body
    condition = (form.get("condition") or "").strip()
    if not condition:
        raise fail("condition", 'is required: a JSON condition, e.g. {"plan": "pro"}')
    body["condition"] = _json(condition, "condition")
    return body


def weights_body(form: Mapping[str, str]) -> dict[str, Any]:
    """A new phase's body: ``{}`` keeps the weights, else the weights given."""
    raw = (form.get("weights") or "").strip()
    return {"weights": _numbers(raw, "weights")} if raw else {}
