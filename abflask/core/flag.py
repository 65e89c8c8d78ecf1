"""Feature flags as values: the definition and its create/patch parsing.

Pure: no I/O and no clock (callers pass ``now``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from abflask.core import bucketing
from abflask.core.fields import MAX_STRING, check_fields, fail, number, parse_key, text


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
        return self.enabled and bucketing.in_rollout(
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
    body = check_fields(payload, FLAG_FIELDS, "")
    if current is not None:
        if "key" in body and body["key"] != current.key:
            raise fail("key", "cannot be changed")
        body = {**current.to_dict(), **body}
    key = parse_key(body.get("key"))
    enabled = body.get("enabled", False)
    if not isinstance(enabled, bool):
        raise fail("enabled", "must be true or false")
    rollout = body.get("rollout", 1.0)
    description = body.get("description")
    description = "" if description is None else description
    if not isinstance(description, str) or len(description) > 1000:
        raise fail("description", "must be a string of at most 1000 characters")
    seed = body.get("seed")
    return Flag(
        key=key,
        enabled=enabled,
        rollout=number(rollout, "rollout", 0.0, 1.0),
        seed=text(seed, "seed", MAX_STRING) if seed is not None else key,
        description=description,
        updated_at=now,
        version=current.version if current else 0,
    )
