"""The SDK's parsed configuration: replaced whole on each change, never mutated.

The format is ``abflask.core.wire``'s, decoded once per fetch so that each
decision only reads tuples.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from abflask.core import wire


@dataclass(frozen=True)
class Snapshot:
    """The experiments and flags of one ``/sdk/config`` answer, and its ETag."""

    experiments: Mapping[str, wire.WireExperiment]
    flags: Mapping[str, wire.WireFlag]
    etag: str

    @classmethod
    def parse(cls, raw: bytes, etag: str) -> Snapshot:
        """Decode a ``/sdk/config`` body; raises ValueError (or KeyError,
        TypeError) for one this SDK cannot read."""
        experiments, flags = wire.decode(json.loads(raw))
        return cls(experiments, flags, etag)
