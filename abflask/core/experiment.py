"""Experiments as values: the definition, its lifecycle, phases and parsing.

Pure: no I/O and no clock (callers pass ``now``). Every parse function either
returns a complete value or raises ``ValidationError`` naming the bad field, so
a request is fully checked before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from abflask.core import bucketing
from abflask.core.fields import (
    MAX_STRING,
    check_fields,
    fail,
    number,
    parse_key,
    text,
)
from abflask.core.metric import (
    AnalysisSettings,
    Metric,
    analysis_from_stored,
    metrics_from_stored,
    parse_analysis,
    parse_metrics,
)
from abflask.core.segment import Segment
from abflask.core.targeting import (
    Audience,
    matches,
    parse_audience,
    user_attributes,
)
from abflask.errors import ConflictError

STATUSES = ("draft", "running", "stopped", "completed")
MAX_NAME = 200
"""Characters in an experiment's display name."""
MAX_VARIATIONS = 20

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
    "analysis",
    "condition",
    "segments",
}
TARGETING = ("condition", "segments")
"""Fields that change who enters next; they may change until completed."""
PATCHABLE = {
    "name",
    "weights",
    "coverage",
    "max_participants",
    "metrics",
    "analysis",
    *TARGETING,
}
"""Fields that may change once an experiment has started."""
STARTED = ("running", "stopped")
"""Statuses in which a change of weights starts a new phase."""
SAME_SUM = 1e-9
"""How far from 1 weights may sum and still be stored in a phase as given."""


@dataclass(frozen=True)
class Phase:
    """A stretch of an experiment with one split among its variations.

    ``weights`` are the effective weights (one per variation, summing to 1);
    ``started_at`` is in epoch seconds. A user belongs to the phase in which
    they were first exposed (see ``Experiment.phase_at``), and keeps their
    variation across phases: only users enrolled later see a new split.

    >>> Phase(started_at=1_700_000_000.0, weights=(0.5, 0.5)).to_dict(0)
    {'index': 0, 'started_at': 1700000000.0, 'weights': [0.5, 0.5]}
    """

    started_at: float
    weights: tuple[float, ...]

    def to_dict(self, index: int) -> dict[str, Any]:
        """The JSON form, numbered ``index`` (its place in ``phases``)."""
        return {
            "index": index,
            "started_at": self.started_at,
            "weights": list(self.weights),
        }


def split_weights(weights: tuple[float, ...] | None, n: int) -> tuple[float, ...]:
    """The share of users each of ``n`` variations gets, summing to 1.

    ``None`` is an equal split. Given weights are kept exactly when they sum
    to within ``SAME_SUM`` of 1, otherwise divided by their sum (the parser
    accepts sums of 0.99 to 1.01).
    """
    if weights is None:
        return tuple(1.0 / n for _ in range(n))
    total = math.fsum(weights)
    if abs(total - 1.0) <= SAME_SUM:
        return tuple(weights)
    return tuple(w / total for w in weights)


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
    metrics: tuple[Metric, ...] = ()
    namespace: tuple[str, float, float] | None = None
    analysis: AnalysisSettings = AnalysisSettings()
    phases: tuple[Phase, ...] = ()
    status: str = "draft"
    winner: int | None = None
    created_at: float | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    completed_at: float | None = None
    version: int = 0
    condition: dict[str, Any] | None = field(default=None, hash=False)
    """Who may enter (GrowthBook syntax); None: everyone."""
    segments: tuple[str, ...] = ()
    """Condition segments a user must all match to enter."""
    split: bucketing.Split = field(init=False, compare=False, repr=False)
    """How users are split (derived once per definition, not per request)."""

    def __post_init__(self) -> None:
        if any(isinstance(m, str) for m in self.metrics):
            # Event keys are shorthand when an experiment is built by hand.
            shorthand = [m if isinstance(m, str) else m.to_dict() for m in self.metrics]
            object.__setattr__(self, "metrics", parse_metrics(shorthand))
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

    def candidate(self, user_id: str, at: float | None = None) -> int:
        """The variation index the hash gives ``user_id``, or -1 if excluded.

        Excluded means outside the namespace range or outside coverage. This
        ignores status, cap and stickiness: the store applies those. Exposed
        at epoch second ``at`` before the last phase began (it starts at the
        next whole second), the previous phase's weights split the user.
        """
        if at is not None and len(self.phases) > 1:
            if math.floor(at) < self.phases[-1].started_at:
                return bucketing.decide(self._previous_split(), user_id)
        return bucketing.decide(self.split, user_id)

    def _previous_split(self) -> bucketing.Split:
        """The split of the phase before the last (built once)."""
        found: bucketing.Split | None = self.__dict__.get("_previous")
        if found is None:
            weights = list(self.phases[-2].weights)
            ranges = bucketing.bucket_ranges(
                len(self.variations), self.coverage, weights
            )
            found = bucketing.make_split(
                self.effective_seed, self.hash_version, ranges, self.namespace
            )
            object.__setattr__(self, "_previous", found)
        return found

    @property
    def audience(self) -> Audience:
        """Who the experiment targets: ``condition`` and ``segments``."""
        return Audience(self.condition, self.segments)

    def targets(
        self,
        user_id: str,
        attributes: Mapping[str, Any],
        segments: Mapping[str, Segment],
    ) -> bool:
        """Whether ``user_id`` with ``attributes`` may enter (a missing segment:
        no). Conditions see the attribute ``id`` as ``user_id``.

        Only for users not enrolled yet: an enrolled user keeps their
        variation whatever their attributes now.
        """
        if self.condition is None and not self.segments:
            return True
        seen = user_attributes(user_id, attributes)
        return matches(self.audience, seen, segments)

    def segment_refs(self) -> frozenset[str]:
        """The segments it names (``segments`` and ``$inGroup``)."""
        return self.audience.segment_refs()

    @property
    def metric_keys(self) -> tuple[str, ...]:
        """The event keys of ``metrics``, in order (the declared event keys)."""
        return tuple(m.event for m in self.metrics)

    @property
    def effective_weights(self) -> tuple[float, ...]:
        """The split new users get now: one share per variation, summing to 1."""
        return split_weights(self.weights, len(self.variations))

    def phase_at(self, t: float) -> int | None:
        """The index of the phase a user first exposed at epoch second ``t`` is in.

        Exposure times are whole seconds, so the second in which a later phase
        started at a fractional time holds users of both splits: a user first
        exposed then belongs to no phase (None) and is left out of the
        analysis, rather than mixed into either. Otherwise it is the last phase
        with ``started_at <= t``; 0 before every phase, and while there are
        none (a draft).
        """
        index = 0
        for i, phase in enumerate(self.phases):
            first = math.floor(phase.started_at)
            if i and first == math.floor(t) and first != phase.started_at:
                return None
            if phase.started_at <= t:
                index = i
        return index

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
            "metrics": [m.to_dict() for m in self.metrics],
            "namespace": {"id": ns[0], "range": [ns[1], ns[2]]} if ns else None,
            "analysis": self.analysis.to_dict(),
            "phases": [p.to_dict(i) for i, p in enumerate(self.phases)],
            "status": self.status,
            "winner": self.variations[self.winner] if self.winner is not None else None,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "completed_at": self.completed_at,
            "version": self.version,
            **self.audience.fields(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], version: int = 0) -> Experiment:
        """Rebuild a stored experiment (trusted input written by ``to_dict``).

        An experiment stored before phases existed that has started gets one
        phase: from ``started_at``, with its current weights.
        """
        ns = data.get("namespace")
        variations = tuple(data["variations"])
        winner = data.get("winner")
        weights = tuple(data["weights"]) if data.get("weights") else None
        if "phases" in data:
            phases = tuple(
                Phase(float(p["started_at"]), tuple(p["weights"]))
                for p in data["phases"]
            )
        elif data.get("started_at") is not None:
            started = float(data["started_at"])
            phases = (Phase(started, split_weights(weights, len(variations))),)
        else:
            phases = ()
        return cls(
            key=data["key"],
            variations=variations,
            name=data.get("name") or data["key"],
            weights=weights,
            coverage=float(data.get("coverage", 1.0)),
            seed=data.get("seed") or data["key"],
            hash_version=int(data.get("hash_version", 2)),
            max_participants=data.get("max_participants"),
            metrics=metrics_from_stored(data.get("metrics")),
            namespace=(ns["id"], ns["range"][0], ns["range"][1]) if ns else None,
            analysis=analysis_from_stored(data.get("analysis")),
            phases=phases,
            status=data.get("status", "draft"),
            winner=variations.index(winner) if winner is not None else None,
            created_at=data.get("created_at"),
            started_at=data.get("started_at"),
            stopped_at=data.get("stopped_at"),
            completed_at=data.get("completed_at"),
            version=version,
            condition=data.get("condition"),
            segments=tuple(data.get("segments") or ()),
        )

    # -- lifecycle ---------------------------------------------------------

    def start(self, now: float) -> Experiment:
        """draft or stopped → running; the first start begins phase 0.

        A restart after a stop continues the current phase: the split did not
        change, and users enrolled before the stop keep their variation.
        """
        if self.status not in ("draft", "stopped"):
            raise ConflictError(f"cannot start an experiment that is {self.status}")
        started = now if self.started_at is None else self.started_at
        return replace(
            self,
            status="running",
            started_at=started,
            stopped_at=None,
            phases=self.phases or (Phase(started, self.effective_weights),),
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

    def new_phase(self, now: float, weights: Any = None) -> Experiment:
        """Begin a new phase at ``now``, with new ``weights`` or the current ones.

        ``weights`` is validated as the create body's (a list of numbers, one
        per variation, summing to 1; ValidationError naming ``weights``) and
        becomes the experiment's weights. ConflictError unless the experiment
        is running or stopped. Users keep their variation; analysis per phase
        starts afresh from ``now``.
        """
        if self.status not in STARTED:
            raise ConflictError(
                f"cannot start a phase of an experiment that is {self.status}"
            )
        if isinstance(weights, tuple):
            weights = list(weights)
        if weights is not None:
            parsed = parse_weights(weights, len(self.variations))
            changed = replace(self, weights=parsed)
        else:
            changed = self
        return changed._with_phase(now)

    def _with_phase(self, now: float) -> Experiment:
        """This experiment with a phase appended: the first starts at ``now``,
        a later one at the next whole second (after the last phase's).

        A whole second leaves no second split both ways: users exposed before
        it are split by the previous phase's weights (``candidate``) and
        belong to it, whatever the order in which their requests and the
        change reach Redis. Phases stay in order even when this host's clock
        is behind the one that started the last phase.
        """
        if not self.phases:
            start = now
        else:
            start = max(math.floor(now), math.floor(self.phases[-1].started_at)) + 1
        phase = Phase(float(start), self.effective_weights)
        return replace(self, phases=(*self.phases, phase))

    def patch(self, payload: Any, now: float) -> Experiment:
        """Apply a PATCH body; once started only ``PATCHABLE`` fields may change.

        ``analysis`` merges into the current settings (a null field resets it
        to its default); every other field replaces the current value. A
        change of the effective weights of a running or stopped experiment
        begins a new phase at ``now``; nothing else does (coverage and the cap
        change who enters, not the split among those who do).
        """
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
        if self.status == "completed":
            for name in TARGETING:
                if name in body and (body[name] or None) != current.get(name):
                    raise ConflictError(
                        f"{name} cannot change once the experiment is completed"
                    )
        merged = {**current, **body, "key": self.key}
        if "variations" in body and "weights" not in body:
            merged["weights"] = None
        if isinstance(body.get("analysis"), dict):
            merged["analysis"] = {**current["analysis"], **body["analysis"]}
        fresh = replace(
            parse_experiment(merged, now=self.created_at or 0.0),
            status=self.status,
            winner=self.winner,
            created_at=self.created_at,
            started_at=self.started_at,
            stopped_at=self.stopped_at,
            completed_at=self.completed_at,
            version=self.version,
            phases=self.phases,
        )
        if (
            self.status in STARTED
            and self.phases
            and fresh.effective_weights != self.phases[-1].weights
        ):
            return fresh._with_phase(now)
        return fresh


def _variations(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_VARIATIONS:
        raise fail("variations", f"must be a list of 2-{MAX_VARIATIONS} names")
    names = tuple(text(v, f"variations[{i}]", 64) for i, v in enumerate(raw))
    if len(set(names)) != len(names):
        raise fail("variations", "names must be unique")
    return names


def parse_weights(raw: Any, n: int) -> tuple[float, ...] | None:
    """A ``weights`` field: None, or a list of ``n`` numbers in [0, 1] summing
    to 1 (±0.01); ValidationError naming ``weights`` or ``weights[i]``."""
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
    audience = parse_audience(body)
    return Experiment(
        key=key,
        variations=variations,
        name=key if body.get("name") is None else text(body["name"], "name", MAX_NAME),
        weights=parse_weights(body.get("weights"), len(variations)),
        coverage=1.0 if coverage is None else number(coverage, "coverage", 0, 1),
        seed=text(seed, "seed", MAX_STRING) if seed is not None else key,
        hash_version=hash_version,
        max_participants=cap,
        metrics=parse_metrics(body.get("metrics")),
        namespace=_namespace(body.get("namespace")),
        analysis=parse_analysis(body.get("analysis")),
        created_at=now,
        condition=audience.condition,
        segments=audience.segments,
    )
