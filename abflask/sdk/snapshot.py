"""The SDK's parsed configuration: replaced whole on each change, never mutated.

The format is ``abflask.core.wire``'s, decoded once per fetch so that each
decision only reads tuples. What can be worked out once per snapshot is
worked out here: which targeted experiments never read the attribute ``id``
(their users' attributes are then tested as given, with no copy per call).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from abflask.core import wire
from abflask.core.targeting import Target


@dataclass(frozen=True)
class Snapshot:
    """The experiments and flags of one ``/sdk/config`` answer, and its ETag."""

    experiments: Mapping[str, wire.WireExperiment]
    flags: Mapping[str, wire.WireFlag]
    etag: str
    id_blind: frozenset[str] = field(default=frozenset())
    """Targeted experiments none of whose conditions reads ``id``: testing the
    user's attributes as given decides exactly as with ``id`` set."""

    @classmethod
    def parse(cls, raw: bytes, etag: str) -> Snapshot:
        """Decode a ``/sdk/config`` body; raises ValueError (or KeyError,
        TypeError) for one this SDK cannot read."""
        experiments, flags = wire.decode(json.loads(raw))
        blind = frozenset(
            key
            for key, exp in experiments.items()
            if exp.target is not None and not reads_id(exp.target)
        )
        return cls(experiments, flags, etag, blind)


def reads_id(target: Target) -> bool:
    """Whether any condition of ``target`` may read the attribute ``id``.

    Conservative: any object key ``id`` or ``id.…`` anywhere counts, even one
    inside an operator that reads something else (``$elemMatch`` items).
    """
    stack: list[Any] = list(target.conditions)
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key == "id" or (isinstance(key, str) and key.startswith("id.")):
                    return True
                stack.append(value)
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return False
