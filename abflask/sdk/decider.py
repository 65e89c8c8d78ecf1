"""The decisions both SDK clients share: variations and flags from a snapshot. No I/O.

``Decider`` holds the immutable snapshot, the assignments the service
confirmed and the users already exposed. ``variation``, ``is_feature_on`` and
``get_feature_value`` only read them, test targeting and hash locally
(``abflask.core``, the service's own code) and never raise. The clients
supply ``_expose`` (queue one exposure) and fetch the snapshots.

Sticky rule: the service is the store of truth. The first time a process
evaluates a user in a running experiment it answers from the hash (which is
what the service stores for a new user) and queues an exposure; the
service's final answer to it (the stored, sticky variation) is cached and
served from then on.

Targeting (GrowthBook's sticky-bucketing precedence): a user whose stored
variation this process has heard keeps it whatever their attributes now;
any other user of a targeted experiment must match its condition and
segments (``User.properties`` are the attributes, ``id`` is the user id),
else they get the first variation, ``not_targeted``, and no exposure.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from abflask.core import bucketing, flag
from abflask.core.outcomes import Outcome, Reason
from abflask.core.targeting import Target
from abflask.core.wire import WireExperiment
from abflask.sdk.outbox import RateLimitedLog
from abflask.sdk.snapshot import Snapshot

logger = logging.getLogger(__name__)

CACHE_SIZE = 100_000
"""Users remembered per cache (exposures queued, stored assignments)."""


@dataclass(frozen=True)
class User:
    """A user: an id and optional properties, the attributes targeting tests
    (also sent with exposures, and with tracked events).

    >>> User("u-42", {"plan": "pro", "country": "DE"}).id
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


NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})
"""The attributes of a user given as a bare id."""


def user_id_of(user: str | User) -> str:
    return user.id if isinstance(user, User) else str(user)


def attributes_of(user: str | User) -> Mapping[str, Any]:
    return user.properties if isinstance(user, User) else NO_ATTRIBUTES


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

    def _expose(
        self, cell: tuple[str, str], attributes: Mapping[str, Any] = NO_ATTRIBUTES
    ) -> None:
        """Queue the exposure of ``(experiment, user_id)`` (with the user's
        ``attributes``, if any) and mark it exposed."""
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
                    if stored >= 0:
                        return exp.variations[stored], Reason.STORED, True
                    if exp.target is None:
                        return exp.variations[0], Reason.EXCLUDED, False
                    return self._targeted(snap, exp, exp.target, user, cell, stored)
            if exp.target is not None:
                return self._targeted(snap, exp, exp.target, user, cell, None)
            if cell not in self._exposed:
                if type(user) is str:
                    self._expose(cell)
                else:  # a service with newer targeting decides with these
                    self._expose(cell, attributes_of(user))
            index = bucketing.decide(exp.split, user_id)
            if index < 0:
                return exp.variations[0], Reason.EXCLUDED, False
            return exp.variations[index], Reason.ASSIGNED, True
        except Exception:  # the SDK must never take the caller down
            logger.exception("variation(%r) failed; serving the default", key)
            return default, Reason.ERROR, False

    def _targeted(
        self,
        snap: Snapshot,
        exp: WireExperiment,
        target: Target,
        user: str | User,
        cell: tuple[str, str],
        stored: int | None,
    ) -> tuple[Any, Reason, bool]:
        """``_decide`` for a user of a targeted experiment with no stored
        variation heard: the audience first, then as any other user."""
        attributes = user.properties if type(user) is User else attributes_of(user)
        key, user_id = cell
        if key in snap.id_blind:
            seen = attributes
        else:
            seen = {**attributes, "id": user_id}  # targeting.user_attributes
        if not target.test(seen):
            return exp.variations[0], Reason.NOT_TARGETED, False
        if stored is not None:  # the cap was full for them: it never un-fills
            return exp.variations[0], Reason.EXCLUDED, False
        if cell not in self._exposed:
            self._expose(cell, attributes)
        index = bucketing.decide(exp.split, user_id)
        if index < 0:
            return exp.variations[0], Reason.EXCLUDED, False
        return exp.variations[index], Reason.ASSIGNED, True

    def is_feature_on(self, feature_key: str, user: str | User) -> bool:
        """Whether the flag serves ``user`` a truthy value (null, false, 0,
        "", [] and {} are off); False if undecidable."""
        return bool(self._flag(feature_key, user, False)[0])

    def is_feature_on_detail(self, feature_key: str, user: str | User) -> Decision:
        """``is_feature_on`` with the reason for the answer."""
        value, reason = self._flag(feature_key, user, False)
        return Decision(bool(value), reason)

    def get_feature_value(
        self, feature_key: str, user: str | User, default: Any = None
    ) -> Any:
        """The JSON value the flag serves ``user``; ``default`` if undecidable
        or if the flag serves null (as GrowthBook's ``get_feature_value``)."""
        value = self._flag(feature_key, user, default)[0]
        return default if value is None else value

    def get_feature_value_detail(
        self, feature_key: str, user: str | User, default: Any = None
    ) -> Decision:
        """The value the flag serves ``user`` (null included) and the reason;
        ``default`` with the reason when undecidable."""
        return Decision(*self._flag(feature_key, user, default))

    def _flag(self, key: str, user: str | User, default: Any) -> tuple[Any, Reason]:
        """``core.flag.evaluate`` over every flag of the snapshot (for
        prerequisites), with the user's attributes.

        Inlined, to skip ``evaluate``'s copy of the attributes with ``id`` set
        when no rule that can run reads ``id`` (``Snapshot.id_blind_flags``):
        the same evaluation (core's ``_decide``), the same answers.
        """
        try:
            snap = self._snapshot
            if snap is None:
                return default, Reason.NO_CONFIG
            flags = snap.flags
            compiled = flags.get(key)
            if compiled is None:
                return default, Reason.UNKNOWN
            if type(user) is User:
                user_id, attributes = user.id, user.properties
            elif type(user) is str:
                user_id, attributes = user, NO_ATTRIBUTES
            else:
                user_id, attributes = user_id_of(user), attributes_of(user)
            if key not in snap.id_blind_flags:
                attributes = {**attributes, "id": user_id}  # user_attributes
            return flag._decide(compiled, user_id, attributes, flags, (key,), {})
        except Exception:
            logger.exception("flag %r failed; serving the default", key)
            return default, Reason.ERROR

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
        if item["reason"] == Outcome.NOT_TARGETED:
            # Final, yet not the user's assignment: their attributes may
            # change, so a later call that finds them matching exposes again.
            self._exposed.pop(cell, None)
        elif item["reason"] in (Outcome.STICKY, Outcome.ENROLLED):
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
