"""Definitions in Redis: experiments, flags and segments, as versioned JSON.

Every create, replace and delete is one script (``save.lua``, ``delete.lua``)
that changes the document and its listing together, checking the version the
caller read (optimistic concurrency). Changes are announced on one pub/sub
channel, received by ``changes``. ``Store`` inherits all of this.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from abflask.core.experiment import Experiment
from abflask.core.flag import Flag
from abflask.core.segment import Segment
from abflask.errors import ConflictError, NotFoundError
from abflask.storage.changes import ChangeListener, Handler
from abflask.storage.connection import ScriptedRedis

KINDS = {"exps": "experiment", "flags": "flag", "segs": "segment"}
"""Registry set → what its members are called in error messages."""


def _overlap(claim: str, other: str, other_claim: str) -> str:
    """The message for a namespace claim that overlaps ``other``'s."""
    ns_id, start, end = claim.split(" ")
    _, o_start, o_end = other_claim.split(" ")
    return (
        f"namespace {ns_id!r} range [{start}, {end}) overlaps "
        f"experiment {other!r} [{o_start}, {o_end})"
    )


class DefinitionStore(ScriptedRedis):
    """Reads and writes of definitions; every method talks to Redis and raises
    ``StorageUnavailable`` for any Redis failure."""

    def _config_key(self, experiment: str) -> str:
        return self.keys.experiment(experiment, "cfg")

    def _save(
        self,
        registry: str,
        key: str,
        version: int,
        data: dict[str, Any],
        namespace: tuple[str, float, float] | None = None,
    ) -> int:
        """Create (``version`` 0) or replace a definition and list it (save.lua).

        One atomic script: the definition, its registry membership and, for
        experiments, its namespace claim (checked against every other claim).
        """
        what = f"{KINDS[registry]} {data['key']!r}"
        keys = [key, self.keys.registry(registry)]
        args: list[Any] = [version, json.dumps(data), data["key"]]
        if registry == "exps":
            keys.append(self.keys.namespaces())
            args.append(" ".join(map(repr, namespace)) if namespace else "")
        code, *other = self._script("save", keys, args)
        if code == -1:
            raise ConflictError(f"{what} already exists")
        if code == -3:
            raise NotFoundError(f"{what} does not exist")
        if code == -4:
            raise ConflictError(_overlap(args[3], other[0].decode(), other[1].decode()))
        if code < 0:
            raise ConflictError(f"{what} changed meanwhile; retry")
        return int(code)

    def _delete(self, registry: str, key: str, name: str) -> bool:
        """Remove a definition and its listing together (delete.lua)."""
        keys = [key, self.keys.registry(registry)]
        if registry == "exps":
            keys.append(self.keys.namespaces())
        return bool(self._script("delete", keys, [name]))

    def _load(
        self, registry: str, key_of: Callable[[str], str]
    ) -> list[tuple[dict[str, Any], int]]:
        """Every listed definition with its version (two round trips)."""
        names = sorted(
            k.decode()
            for k in self._call(self._r.smembers, self.keys.registry(registry))
        )
        pipe = self._r.pipeline(transaction=False)
        for name in names:
            pipe.hmget(key_of(name), ["json", "ver"])
        rows = self._call(pipe.execute)
        return [(json.loads(raw), int(ver)) for raw, ver in rows if raw is not None]

    def _get(self, key: str) -> tuple[dict[str, Any], int] | None:
        """One definition document and its version (one round trip)."""
        raw, ver = self._call(self._r.hmget, key, ["json", "ver"])
        return None if raw is None else (json.loads(raw), int(ver))

    # -- experiments -----------------------------------------------------------

    def create_experiment(self, exp: Experiment) -> Experiment:
        """Store and list a new experiment (one script).

        ConflictError if it exists or its namespace range overlaps another's.
        """
        version = self._save(
            "exps", self._config_key(exp.key), 0, exp.to_dict(), exp.namespace
        )
        return Experiment.from_dict(exp.to_dict(), version)

    def save_experiment(self, exp: Experiment) -> Experiment:
        """Replace an experiment if nobody changed it since it was read (one script).

        ConflictError if it changed meanwhile or its namespace range overlaps
        another's; NotFoundError if it was deleted.
        """
        version = self._save(
            "exps",
            self._config_key(exp.key),
            exp.version,
            exp.to_dict(),
            exp.namespace,
        )
        return Experiment.from_dict(exp.to_dict(), version)

    def get_experiment(self, key: str) -> Experiment | None:
        """Read one experiment definition (one round trip)."""
        found = self._get(self._config_key(key))
        return None if found is None else Experiment.from_dict(*found)

    def load_experiments(self) -> dict[str, Experiment]:
        """Every experiment definition (two round trips)."""
        rows = self._load("exps", self._config_key)
        return {d["key"]: Experiment.from_dict(d, ver) for d, ver in rows}

    def delete_experiment(self, key: str) -> bool:
        """Remove an experiment and all its data; False if it did not exist.

        The definition, listing and namespace claim go first, in one script;
        the data keys follow (unreachable by then; a retry removes leftovers).
        """
        existed = self._delete("exps", self._config_key(key), key)
        names = list(self.keys.experiment_keys(key))
        pipe = self._r.pipeline(transaction=False)
        for i in range(0, len(names), 1000):
            pipe.unlink(*names[i : i + 1000])
        self._call(pipe.execute)
        return existed

    # -- flags -----------------------------------------------------------------

    def create_flag(self, flag: Flag) -> Flag:
        """Store and list a new flag (one script); ConflictError if it exists."""
        version = self._save("flags", self.keys.flag(flag.key), 0, flag.to_dict())
        return Flag.from_dict(flag.to_dict(), version)

    def save_flag(self, flag: Flag) -> Flag:
        """Replace a flag if nobody changed it since it was read."""
        version = self._save(
            "flags", self.keys.flag(flag.key), flag.version, flag.to_dict()
        )
        return Flag.from_dict(flag.to_dict(), version)

    def get_flag(self, key: str) -> Flag | None:
        """Read one flag definition (one round trip)."""
        found = self._get(self.keys.flag(key))
        return None if found is None else Flag.from_dict(*found)

    def load_flags(self) -> dict[str, Flag]:
        """Every flag definition (two round trips)."""
        return {
            d["key"]: Flag.from_dict(d, ver)
            for d, ver in self._load("flags", self.keys.flag)
        }

    def delete_flag(self, key: str) -> bool:
        """Remove a flag and its listing (one script); False if it did not exist."""
        return self._delete("flags", self.keys.flag(key), key)

    # -- segments --------------------------------------------------------------

    def create_segment(self, segment: Segment) -> Segment:
        """Store and list a new segment (one script); ConflictError if it exists."""
        data = segment.to_dict()
        version = self._save("segs", self.keys.segment(segment.key), 0, data)
        return Segment.from_dict(data, version)

    def save_segment(self, segment: Segment) -> Segment:
        """Replace a segment if nobody changed it since it was read (one script).

        ConflictError if it changed meanwhile; NotFoundError if it was deleted.
        """
        data = segment.to_dict()
        key = self.keys.segment(segment.key)
        return Segment.from_dict(data, self._save("segs", key, segment.version, data))

    def get_segment(self, key: str) -> Segment | None:
        """Read one segment definition (one round trip)."""
        found = self._get(self.keys.segment(key))
        return None if found is None else Segment.from_dict(*found)

    def load_segments(self) -> dict[str, Segment]:
        """Every segment definition (two round trips)."""
        return {
            d["key"]: Segment.from_dict(d, ver)
            for d, ver in self._load("segs", self.keys.segment)
        }

    def delete_segment(self, key: str) -> bool:
        """Remove a segment and its listing (one script); False if it did not exist."""
        return self._delete("segs", self.keys.segment(key), key)

    # -- definition changes: published here, received by ``changes`` ----------

    def publish_change(self, what: str) -> None:
        """Tell every worker that a definition changed (one round trip)."""
        self._call(self._r.publish, self.keys.changes(), what)

    def listen_changes(self, owner: Callable[[], Handler | None]) -> ChangeListener:
        """A started thread calling ``owner()``'s handler with each change
        (None after each (re)subscription: reload everything)."""
        return ChangeListener(self._r, self.keys.changes(), owner).start()
