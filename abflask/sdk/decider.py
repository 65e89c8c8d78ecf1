"""The decisions both SDK clients share: variations and flags from a snapshot. No I/O.

``Decider`` holds the immutable snapshot, the assignments the service
confirmed and the users already exposed. ``variation`` and ``is_feature_on``
only read them and hash locally (``abflask.core``, the service's own code)
and never raise. The clients supply ``_expose`` (queue one exposure) and
fetch the snapshots.

Sticky rule: the service is the store of truth. The first time a process
evaluates a user in a running experiment it answers from the hash (which is
what the service stores for a new user) and queues an exposure; the
service's final answer to it (the stored, sticky variation) is cached and
served from then on.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from abflask.core import bucketing
from abflask.core.outcomes import Outcome, Reason
from abflask.sdk.outbox import RateLimitedLog
from abflask.sdk.snapshot import Snapshot

logger = logging.getLogger(__name__)

CACHE_SIZE = 100_000
"""Users remembered per cache (exposures queued, stored assignments)."""


@dataclass(frozen=True)
class User:
    """A user: an id and optional properties (sent with tracked events).

    >>> User("u-42", {"plan": "pro"}).id
    'u-42'
    """

    id: str
    properties: Mapping[str, Any] = field(default_factory=dict)


class Decision(NamedTuple):
    """A variation or flag value with the reason for it.

    A NamedTuple, not a dataclass: one is built on every call, and tuples
    are several times cheaper to make.
    """

    value: Any
    reason: Reason
    in_experiment: bool = False


def user_id_of(user: str | User) -> str:
    return user.id if isinstance(user, User) else str(user)


def bounded_put(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    """Insert, evicting the oldest entry beyond CACHE_SIZE.

    An OrderedDict: popping a plain dict's first key again and again makes
    finding the next first key slower each time (it skips deleted slots).
    """
    if len(cache) >= CACHE_SIZE:
        try:
            cache.popitem(last=False)
        except KeyError:  # emptied by another thread meanwhile
            pass
    cache[key] = value


class Decider:
    """Local evaluation of experiments and flags from the current snapshot."""

    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._assigned: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._exposed: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._log = RateLimitedLog()

    def _expose(self, cell: tuple[str, str]) -> None:
        """Queue the exposure of ``(experiment, user_id)`` and mark it exposed."""
        raise NotImplementedError

    # -- decisions: no I/O, never raise --------------------------------------

    def variation(
        self, experiment_key: str, user: str | User, default: str = "control"
    ) -> str:
        """The variation name to show ``user``; ``default`` if undecidable."""
        return self._decide(experiment_key, user, default)[0]  # type: ignore[no-any-return]

    def variation_detail(
        self, experiment_key: str, user: str | User, default: str = "control"
    ) -> Decision:
        """``variation`` with the reason for the answer."""
        return Decision(*self._decide(experiment_key, user, default))

    def _decide(
        self, key: str, user: str | User, default: str
    ) -> tuple[Any, Reason, bool]:
        # The hot path: plain tuples, and the exposure bookkeeping inline.
        try:
            snap = self._snapshot
            if snap is None:
                return default, Reason.NO_CONFIG, False
            exp = snap.experiments.get(key)
            if exp is None:
                return default, Reason.UNKNOWN, False
            if exp.winner is not None:
                return exp.variations[exp.winner], Reason.WINNER, False
            if not exp.running:
                return exp.variations[0], Reason.NOT_RUNNING, False
            user_id = user if type(user) is str else user_id_of(user)
            cell = (key, user_id)
            if self._assigned:
                stored = self._assigned.get(cell)
                if stored is not None:
                    if stored < 0:
                        return exp.variations[0], Reason.EXCLUDED, False
                    return exp.variations[stored], Reason.STORED, True
            if cell not in self._exposed:
                self._expose(cell)
            index = bucketing.decide(exp.split, user_id)
            if index < 0:
                return exp.variations[0], Reason.EXCLUDED, False
            return exp.variations[index], Reason.ASSIGNED, True
        except Exception:  # the SDK must never take the caller down
            logger.exception("variation(%r) failed; serving the default", key)
            return default, Reason.ERROR, False

    def is_feature_on(self, feature_key: str, user: str | User) -> bool:
        """Whether the flag is on for ``user``; False if undecidable."""
        return bool(self.is_feature_on_detail(feature_key, user).value)

    def is_feature_on_detail(self, feature_key: str, user: str | User) -> Decision:
        """``is_feature_on`` with the reason for the answer."""
        try:
            snap = self._snapshot
            if snap is None:
                return Decision(False, Reason.NO_CONFIG)
            flag = snap.flags.get(feature_key)
            if flag is None:
                return Decision(False, Reason.UNKNOWN)
            if not flag.enabled:
                return Decision(False, Reason.FLAG_OFF)
            user_id = user if type(user) is str else user_id_of(user)
            if bucketing.in_rollout(user_id, flag.seed, flag.rollout):
                return Decision(True, Reason.FLAG_ON)
            return Decision(False, Reason.NOT_IN_ROLLOUT)
        except Exception:
            logger.exception("is_feature_on(%r) failed; serving False", feature_key)
            return Decision(False, Reason.ERROR)

    # -- what the sender needs ---------------------------------------------------

    def _mark_exposed(self, cell: tuple[str, str]) -> None:
        exposed = self._exposed
        if len(exposed) >= CACHE_SIZE:
            bounded_put(exposed, cell, None)
        else:
            exposed[cell] = None

    def _running(self, key: str) -> bool:
        """Whether the current snapshot runs ``key`` (else its exposures go)."""
        snap = self._snapshot
        if snap is None:
            return True
        exp = snap.experiments.get(key)
        return exp is not None and exp.running

    def _remember(self, item: Mapping[str, Any]) -> None:
        """Cache a final exposure answer, so the stored variation is served."""
        snap = self._snapshot
        exp = snap.experiments.get(item["experiment"]) if snap else None
        if exp is None or item["variation"] is None:
            return
        cell = (item["experiment"], item["user_id"])
        if item["reason"] in (Outcome.STICKY, Outcome.ENROLLED):
            if item["variation"] not in exp.variations:
                # A snapshot older than the answer: serve the hash until the
                # next refresh rather than guess.
                self._log(
                    "variation",
                    "abflask: variation %r of %r is not in the snapshot",
                    item["variation"],
                    item["experiment"],
                )
                return
            bounded_put(self._assigned, cell, exp.variations.index(item["variation"]))
        elif item["reason"] == Outcome.FULL:  # the cap never un-fills: control
            bounded_put(self._assigned, cell, -1)

    def _apply_config(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> bool:
        """Take a ``/sdk/config`` answer; False (last snapshot kept) unless usable."""
        if status == 304:
            return True
        if status != 200:
            self._log("config", "abflask config fetch: HTTP %d %r", status, body[:200])
            return False
        tag = next((v for k, v in headers.items() if k.lower() == "etag"), "")
        try:
            self._snapshot = Snapshot.parse(body, tag.strip('"'))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._log("config", "abflask config unreadable: %r", exc)
            return False
        return True

    def _config_headers(self) -> dict[str, str] | None:
        etag = self._snapshot.etag if self._snapshot else ""
        return {"If-None-Match": f'"{etag}"'} if etag else None
