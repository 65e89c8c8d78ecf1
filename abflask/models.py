"""Experiments, flags and events as values: parsing, validation and decisions.

Pure: no I/O and no clock (callers pass ``now``). Every parse function either
returns a complete value or raises ``ValidationError`` naming the bad field, so
a request is fully checked before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from abflask import core
from abflask.errors import ConflictError
from abflask.fields import MAX_STRING, parse_event_key, parse_key, parse_user_id
from abflask.fields import check_fields as _check_fields
from abflask.fields import fail as _fail
from abflask.fields import number as _number
from abflask.fields import text as _text

STATUSES = ("draft", "running", "stopped", "completed")
MAX_NAME = 200
"""Characters in an experiment's display name."""
MAX_VARIATIONS = 20
MAX_METRICS = 50
MAX_PROPERTIES = 20
"""Keys in one event's ``properties``."""
MAX_ABS_VALUE = 1e15
"""Largest magnitude of an event ``value``; keeps sums of squares finite."""
MIN_TIMESTAMP = 946_684_800.0
"""2000-01-01 in epoch seconds: older event timestamps are rejected."""
MAX_FUTURE = 86_400.0
"""Seconds an event timestamp may lie ahead of the server clock."""

EXPERIMENT_FIELDS = {
    "key",
    "name",
    "variations",
    "weights",
    "coverage",
    "seed",
    "hash_version",
    "max_participants",
    "metrics",
    "namespace",
}
PATCHABLE = {"name", "weights", "coverage", "max_participants", "metrics"}
"""Fields that may change once an experiment has started."""
EVENT_FIELDS = {"user_id", "event", "value", "properties", "event_id", "timestamp"}


@dataclass(frozen=True)
class Experiment:
    """An experiment definition as stored in Redis and served by the admin API.

    >>> exp = Experiment(key="checkout-btn", variations=("control", "green"))
    >>> exp.candidate("user-42") in (0, 1)
    True
    """

    key: str
    variations: tuple[str, ...]
    name: str = ""
    weights: tuple[float, ...] | None = None
    coverage: float = 1.0
    seed: str = ""
    hash_version: int = 2
    max_participants: int | None = None
    metrics: tuple[str, ...] = ()
    namespace: tuple[str, float, float] | None = None
    status: str = "draft"
    winner: int | None = None
    created_at: float | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    completed_at: float | None = None
    version: int = 0
    ranges: tuple[tuple[float, float], ...] = field(
        default=(), compare=False, repr=False
    )
    seed_state: int = field(default=0, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Bucket ranges are derived once per definition, not per request.
        weights = list(self.weights) if self.weights is not None else None
        ranges = core.bucket_ranges(len(self.variations), self.coverage, weights)
        object.__setattr__(self, "ranges", tuple(ranges))
        object.__setattr__(self, "seed_state", core.fnv1a32(self.effective_seed))

    @property
    def effective_seed(self) -> str:
        """The hashing seed: the experiment key unless one was given."""
        return self.seed or self.key

    def candidate(self, user_id: str) -> int:
        """The variation index the hash gives ``user_id``, or -1 if excluded.

        Excluded means outside the namespace range or outside coverage. This
        ignores status, cap and stickiness: the store applies those.
        """
        if self.namespace is not None and not core.in_namespace(
            user_id, self.namespace
        ):
            return -1
        if self.hash_version == 2:
            h: float | None = core.hash_v2_seeded(
                self.effective_seed, self.seed_state, user_id
            )
        else:
            h = core.hash(self.effective_seed, user_id, self.hash_version)
        return core.choose_from_ranges(h, self.ranges)

    def to_dict(self) -> dict[str, Any]:
        """The public JSON form (also what is stored in Redis)."""
        ns = self.namespace
        return {
            "key": self.key,
            "name": self.name or self.key,
            "variations": list(self.variations),
            "weights": list(self.weights) if self.weights is not None else None,
            "coverage": self.coverage,
            "seed": self.effective_seed,
            "hash_version": self.hash_version,
            "max_participants": self.max_participants,
            "metrics": list(self.metrics),
            "namespace": {"id": ns[0], "range": [ns[1], ns[2]]} if ns else None,
            "status": self.status,
            "winner": self.variations[self.winner] if self.winner is not None else None,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "completed_at": self.completed_at,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], version: int = 0) -> Experiment:
        """Rebuild a stored experiment (trusted input written by ``to_dict``)."""
        ns = data.get("namespace")
        variations = tuple(data["variations"])
        winner = data.get("winner")
        return cls(
            key=data["key"],
            variations=variations,
            name=data.get("name") or data["key"],
            weights=tuple(data["weights"]) if data.get("weights") else None,
            coverage=float(data.get("coverage", 1.0)),
            seed=data.get("seed") or data["key"],
            hash_version=int(data.get("hash_version", 2)),
            max_participants=data.get("max_participants"),
            metrics=tuple(data.get("metrics") or ()),
            namespace=(ns["id"], ns["range"][0], ns["range"][1]) if ns else None,
            status=data.get("status", "draft"),
            winner=variations.index(winner) if winner is not None else None,
            created_at=data.get("created_at"),
            started_at=data.get("started_at"),
            stopped_at=data.get("stopped_at"),
            completed_at=data.get("completed_at"),
            version=version,
        )

    # -- lifecycle ---------------------------------------------------------

    def start(self, now: float) -> Experiment:
        """draft or stopped → running."""
        if self.status not in ("draft", "stopped"):
            raise ConflictError(f"cannot start an experiment that is {self.status}")
        return replace(
            self,
            status="running",
            started_at=now if self.started_at is None else self.started_at,
            stopped_at=None,
        )

    def stop(self, now: float) -> Experiment:
        """running → stopped; everyone then gets the first variation."""
        if self.status != "running":
            raise ConflictError(f"cannot stop an experiment that is {self.status}")
        return replace(self, status="stopped", stopped_at=now)

    def complete(self, winner: Any, now: float) -> Experiment:
        """running or stopped → completed, serving ``winner`` to everyone."""
        if self.status not in ("running", "stopped"):
            raise ConflictError(f"cannot complete an experiment that is {self.status}")
        if not isinstance(winner, str) or winner not in self.variations:
            raise _fail("winner", "must be one of " + ", ".join(self.variations))
        return replace(
            self,
            status="completed",
            winner=self.variations.index(winner),
            stopped_at=now if self.stopped_at is None else self.stopped_at,
            completed_at=now,
        )

    def patch(self, payload: Any) -> Experiment:
        """Apply a PATCH body; once started only ``PATCHABLE`` fields may change."""
        body = _check_fields(payload, EXPERIMENT_FIELDS, "")
        if "key" in body and body["key"] != self.key:
            raise _fail("key", "cannot be changed")
        if self.status != "draft":
            locked = sorted(set(body) - PATCHABLE - {"key"})
            if locked:
                raise ConflictError(
                    f"{locked[0]} cannot change once the experiment has started"
                )
        current = {k: v for k, v in self.to_dict().items() if k in EXPERIMENT_FIELDS}
        merged = {**current, **body, "key": self.key}
        if "variations" in body and "weights" not in body:
            merged["weights"] = None
        fresh = parse_experiment(merged, now=self.created_at or 0.0)
        return replace(
            fresh,
            status=self.status,
            winner=self.winner,
            created_at=self.created_at,
            started_at=self.started_at,
            stopped_at=self.stopped_at,
            completed_at=self.completed_at,
            version=self.version,
        )


def _variations(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_VARIATIONS:
        raise _fail("variations", f"must be a list of 2-{MAX_VARIATIONS} names")
    names = tuple(_text(v, f"variations[{i}]", 64) for i, v in enumerate(raw))
    if len(set(names)) != len(names):
        raise _fail("variations", "names must be unique")
    return names


def _weights(raw: Any, n: int) -> tuple[float, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != n:
        raise _fail("weights", f"must be a list of {n} numbers, one per variation")
    weights = tuple(_number(w, f"weights[{i}]", 0.0, 1.0) for i, w in enumerate(raw))
    if not 0.99 <= sum(weights) <= 1.01:
        raise _fail("weights", "must sum to 1")
    return weights


def _namespace(raw: Any) -> tuple[str, float, float] | None:
    if raw is None:
        return None
    if isinstance(raw, list) and len(raw) == 3:
        raw = {"id": raw[0], "range": raw[1:]}
    if not isinstance(raw, dict) or set(raw) != {"id", "range"}:
        raise _fail("namespace", 'must be {"id": name, "range": [start, end]}')
    ns_id = parse_key(raw["id"], "namespace.id")
    rng = raw["range"]
    if not isinstance(rng, list) or len(rng) != 2:
        raise _fail("namespace.range", "must be [start, end]")
    start = _number(rng[0], "namespace.range[0]", 0.0, 1.0)
    end = _number(rng[1], "namespace.range[1]", 0.0, 1.0)
    if start >= end:
        raise _fail("namespace.range", "start must be below end")
    return (ns_id, start, end)


def _metrics(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_METRICS:
        raise _fail("metrics", f"must be a list of at most {MAX_METRICS} event keys")
    metrics = tuple(parse_event_key(m, f"metrics[{i}]") for i, m in enumerate(raw))
    if len(set(metrics)) != len(metrics):
        raise _fail("metrics", "event keys must be unique")
    return metrics


def parse_experiment(payload: Any, now: float) -> Experiment:
    """Validate a create body into a draft ``Experiment``."""
    body = _check_fields(payload, EXPERIMENT_FIELDS, "")
    key = parse_key(body.get("key"))
    variations = _variations(body.get("variations"))
    cap = body.get("max_participants")
    if cap is not None and (
        isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= 1 << 40
    ):
        raise _fail("max_participants", "must be a positive integer or null")
    hash_version = body.get("hash_version", 2)
    if type(hash_version) is not int or hash_version not in (1, 2):
        raise _fail("hash_version", "must be 1 or 2")
    seed = body.get("seed")
    coverage = body.get("coverage")
    return Experiment(
        key=key,
        variations=variations,
        name=key if body.get("name") is None else _text(body["name"], "name", MAX_NAME),
        weights=_weights(body.get("weights"), len(variations)),
        coverage=1.0 if coverage is None else _number(coverage, "coverage", 0, 1),
        seed=_text(seed, "seed", MAX_STRING) if seed is not None else key,
        hash_version=hash_version,
        max_participants=cap,
        metrics=_metrics(body.get("metrics")),
        namespace=_namespace(body.get("namespace")),
        created_at=now,
    )


@dataclass(frozen=True)
class Flag:
    """A feature flag: on for a deterministic ``rollout`` share of users.

    >>> Flag(key="new-nav", enabled=True, rollout=1.0).is_on("user-1")
    True
    """

    key: str
    enabled: bool = False
    rollout: float = 1.0
    seed: str = ""
    description: str = ""
    updated_at: float | None = None
    version: int = 0

    def is_on(self, user_id: str) -> bool:
        """Enabled, and the user hashes inside the rollout share."""
        return self.enabled and core.in_rollout(
            user_id, self.seed or self.key, self.rollout
        )

    def to_dict(self) -> dict[str, Any]:
        """The public JSON form (also what is stored in Redis)."""
        return {
            "key": self.key,
            "enabled": self.enabled,
            "rollout": self.rollout,
            "seed": self.seed or self.key,
            "description": self.description,
            "updated_at": self.updated_at,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], version: int = 0) -> Flag:
        """Rebuild a stored flag."""
        return cls(
            key=data["key"],
            enabled=bool(data["enabled"]),
            rollout=float(data["rollout"]),
            seed=data.get("seed") or data["key"],
            description=data.get("description", ""),
            updated_at=data.get("updated_at"),
            version=version,
        )


FLAG_FIELDS = {"key", "enabled", "rollout", "seed", "description"}


def parse_flag(payload: Any, now: float, current: Flag | None = None) -> Flag:
    """Validate a create (``current`` None) or PATCH body into a ``Flag``."""
    body = _check_fields(payload, FLAG_FIELDS, "")
    if current is not None:
        if "key" in body and body["key"] != current.key:
            raise _fail("key", "cannot be changed")
        body = {**current.to_dict(), **body}
    key = parse_key(body.get("key"))
    enabled = body.get("enabled", False)
    if not isinstance(enabled, bool):
        raise _fail("enabled", "must be true or false")
    rollout = body.get("rollout", 1.0)
    description = body.get("description")
    description = "" if description is None else description
    if not isinstance(description, str) or len(description) > 1000:
        raise _fail("description", "must be a string of at most 1000 characters")
    seed = body.get("seed")
    return Flag(
        key=key,
        enabled=enabled,
        rollout=_number(rollout, "rollout", 0.0, 1.0),
        seed=_text(seed, "seed", MAX_STRING) if seed is not None else key,
        description=description,
        updated_at=now,
        version=current.version if current else 0,
    )


@dataclass(frozen=True)
class Event:
    """One tracked event, validated.

    >>> Event(user_id="u1", event="purchase", value=19.99, timestamp=1.7e9).value
    19.99
    """

    user_id: str
    event: str
    timestamp: float
    value: float | None = None
    properties: Mapping[str, Any] | None = None
    event_id: str | None = None


def _properties(raw: Any, path: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _fail(path, "must be a flat JSON object")
    if len(raw) > MAX_PROPERTIES:
        raise _fail(path, f"must have at most {MAX_PROPERTIES} keys")
    for name, value in raw.items():
        if not 1 <= len(name) <= 64:
            raise _fail(path, "keys must be 1-64 characters")
        where = f"{path}.{name}"
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                raise _fail(where, f"must be at most {MAX_STRING} characters")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise _fail(where, "must be a finite number")
        elif value is not None and not isinstance(value, int | bool):
            raise _fail(where, "must be a string, number, boolean or null")
    return raw or None


def parse_event(payload: Any, now: float, path: str = "") -> Event:
    """Validate one event object; ``path`` prefixes field names in errors."""
    body = _check_fields(payload, EVENT_FIELDS, path.rstrip("."))
    prefix = f"{path}." if path and not path.endswith(".") else path
    value = body.get("value")
    event_id = body.get("event_id")
    timestamp = body.get("timestamp")
    return Event(
        user_id=parse_user_id(body.get("user_id"), f"{prefix}user_id"),
        event=parse_event_key(body.get("event"), f"{prefix}event"),
        timestamp=now
        if timestamp is None
        else _number(timestamp, f"{prefix}timestamp", MIN_TIMESTAMP, now + MAX_FUTURE),
        value=None
        if value is None
        else _number(value, f"{prefix}value", -MAX_ABS_VALUE, MAX_ABS_VALUE),
        properties=_properties(body.get("properties"), f"{prefix}properties"),
        event_id=None
        if event_id is None
        else _text(event_id, f"{prefix}event_id", MAX_STRING),
    )


def parse_batch(payload: Any, now: float, limit: int) -> list[Event]:
    """Validate a ``{"events": [...]}`` body of 1 to ``limit`` events."""
    body = _check_fields(payload, {"events"}, "")
    events = body.get("events")
    if not isinstance(events, list) or not events:
        raise _fail("events", "must be a non-empty list of events")
    if len(events) > limit:
        raise _fail("events", f"must hold at most {limit} events, got {len(events)}")
    return [parse_event(e, now, f"events[{i}]") for i, e in enumerate(events)]
