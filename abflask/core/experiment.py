"""Experiments as values: the definition, its lifecycle and create/patch parsing.

Pure: no I/O and no clock (callers pass ``now``). Every parse function either
returns a complete value or raises ``ValidationError`` naming the bad field, so
a request is fully checked before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from abflask.core import bucketing
from abflask.core.fields import (
    MAX_STRING,
    check_fields,
    fail,
    number,
    parse_event_key,
    parse_key,
    text,
)
from abflask.errors import ConflictError

STATUSES = ("draft", "running", "stopped", "completed")
MAX_NAME = 200
"""Characters in an experiment's display name."""
MAX_VARIATIONS = 20
MAX_METRICS = 50

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
    split: bucketing.Split = field(init=False, compare=False, repr=False)
    """How users are split (derived once per definition, not per request)."""

    def __post_init__(self) -> None:
        weights = list(self.weights) if self.weights is not None else None
        ranges = bucketing.bucket_ranges(len(self.variations), self.coverage, weights)
        split = bucketing.make_split(
            self.effective_seed, self.hash_version, ranges, self.namespace
        )
        object.__setattr__(self, "split", split)

    @property
    def effective_seed(self) -> str:
        """The hashing seed: the experiment key unless one was given."""
        return self.seed or self.key

    def candidate(self, user_id: str) -> int:
        """The variation index the hash gives ``user_id``, or -1 if excluded.

        Excluded means outside the namespace range or outside coverage. This
        ignores status, cap and stickiness: the store applies those.
        """
        return bucketing.decide(self.split, user_id)

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
            raise fail("winner", "must be one of " + ", ".join(self.variations))
        return replace(
            self,
            status="completed",
            winner=self.variations.index(winner),
            stopped_at=now if self.stopped_at is None else self.stopped_at,
            completed_at=now,
        )

    def patch(self, payload: Any) -> Experiment:
        """Apply a PATCH body; once started only ``PATCHABLE`` fields may change."""
        body = check_fields(payload, EXPERIMENT_FIELDS, "")
        if "key" in body and body["key"] != self.key:
            raise fail("key", "cannot be changed")
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
        raise fail("variations", f"must be a list of 2-{MAX_VARIATIONS} names")
    names = tuple(text(v, f"variations[{i}]", 64) for i, v in enumerate(raw))
    if len(set(names)) != len(names):
        raise fail("variations", "names must be unique")
    return names


def _weights(raw: Any, n: int) -> tuple[float, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != n:
        raise fail("weights", f"must be a list of {n} numbers, one per variation")
    weights = tuple(number(w, f"weights[{i}]", 0.0, 1.0) for i, w in enumerate(raw))
    if not 0.99 <= sum(weights) <= 1.01:
        raise fail("weights", "must sum to 1")
    return weights


def _namespace(raw: Any) -> tuple[str, float, float] | None:
    if raw is None:
        return None
    if isinstance(raw, list) and len(raw) == 3:
        raw = {"id": raw[0], "range": raw[1:]}
    if not isinstance(raw, dict) or set(raw) != {"id", "range"}:
        raise fail("namespace", 'must be {"id": name, "range": [start, end]}')
    ns_id = parse_key(raw["id"], "namespace.id")
    rng = raw["range"]
    if not isinstance(rng, list) or len(rng) != 2:
        raise fail("namespace.range", "must be [start, end]")
    start = number(rng[0], "namespace.range[0]", 0.0, 1.0)
    end = number(rng[1], "namespace.range[1]", 0.0, 1.0)
    if start >= end:
        raise fail("namespace.range", "start must be below end")
    return (ns_id, start, end)


def _metrics(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_METRICS:
        raise fail("metrics", f"must be a list of at most {MAX_METRICS} event keys")
    metrics = tuple(parse_event_key(m, f"metrics[{i}]") for i, m in enumerate(raw))
    if len(set(metrics)) != len(metrics):
        raise fail("metrics", "event keys must be unique")
    return metrics


def parse_experiment(payload: Any, now: float) -> Experiment:
    """Validate a create body into a draft ``Experiment``."""
    body = check_fields(payload, EXPERIMENT_FIELDS, "")
    key = parse_key(body.get("key"))
    variations = _variations(body.get("variations"))
    cap = body.get("max_participants")
    if cap is not None and (
        isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= 1 << 40
    ):
        raise fail("max_participants", "must be a positive integer or null")
    hash_version = body.get("hash_version", 2)
    if type(hash_version) is not int or hash_version not in (1, 2):
        raise fail("hash_version", "must be 1 or 2")
    seed = body.get("seed")
    coverage = body.get("coverage")
    return Experiment(
        key=key,
        variations=variations,
        name=key if body.get("name") is None else text(body["name"], "name", MAX_NAME),
        weights=_weights(body.get("weights"), len(variations)),
        coverage=1.0 if coverage is None else number(coverage, "coverage", 0, 1),
        seed=text(seed, "seed", MAX_STRING) if seed is not None else key,
        hash_version=hash_version,
        max_participants=cap,
        metrics=_metrics(body.get("metrics")),
        namespace=_namespace(body.get("namespace")),
        created_at=now,
    )
