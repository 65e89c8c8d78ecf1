"""The result vocabularies both ends share: script codes, answer reasons, SDK reasons.

One owner per encoding: ``enroll.lua`` and ``track.lua`` return ``Enrollment``
and ``TrackResult`` codes (their headers point here), the service answers an
assignment with an ``Outcome`` as its ``reason`` (``FINAL_OUTCOMES`` are the
ones an SDK stops retrying), and the SDK explains each decision with a
``Reason``. Pure: enums, one set and one mapping.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Enrollment(enum.IntEnum):
    """What ``enroll.lua`` did: the first element of its reply."""

    STALE = -1
    """The caller decided with an older definition than Redis has: nothing written."""
    STICKY = 0
    """The user was enrolled earlier; the reply carries the stored variation."""
    ENROLLED = 1
    """The user is enrolled now, in the candidate variation."""
    EXCLUDED = 2
    """The candidate was -1 (outside coverage or namespace): nothing written."""
    FULL = 3
    """The enrollment cap is reached: nothing written."""


class TrackResult(enum.StrEnum):
    """What ``track.lua`` did with one event: one character of its reply."""

    NOT_ENROLLED = "0"
    """The user is not enrolled in this experiment: nothing written."""
    RECORDED = "1"
    """Appended to the event log and counted."""
    DUPLICATE = "2"
    """The user's ``event_id`` was seen before: stored once already."""
    DROPPED = "3"
    """The experiment has no room for another distinct event key."""


class Outcome(enum.StrEnum):
    """The ``reason`` of an assignment answer: ``/process_user``, ``/sdk/exposures``."""

    ENROLLED = "enrolled"
    STICKY = "sticky"
    EXCLUDED = "excluded"
    FULL = "full"
    NOT_RUNNING = "not_running"
    WINNER = "winner"
    UNAVAILABLE = "unavailable"
    NOT_FOUND = "not_found"
    NOT_TARGETED = "not_targeted"
    """The experiment's condition or segments exclude the user's attributes:
    first variation, nothing stored (a user enrolled earlier answers ``sticky``)."""

    @property
    def stored(self) -> bool:
        """Whether an answer with this outcome reports a stored assignment."""
        return self in (Outcome.ENROLLED, Outcome.STICKY)

    @property
    def final(self) -> bool:
        """Whether the answer is settled: an SDK may stop retrying the exposure."""
        return self in FINAL_OUTCOMES


FINAL_OUTCOMES = frozenset(
    {
        Outcome.ENROLLED,
        Outcome.STICKY,
        Outcome.EXCLUDED,
        Outcome.FULL,
        Outcome.WINNER,
        Outcome.NOT_TARGETED,
    }
)
"""Answers that no retry can change: stored, or decided for good by Redis' state.

``not_targeted`` is final (a retry with the same attributes answers the same)
but, like ``excluded``, not stored: an SDK must not cache it as the user's
assignment, since their attributes may change.

The others are not final and an SDK retries them with backoff: ``unavailable``
(nothing was stored), ``not_found`` and ``not_running`` (the worker may not
have seen a create or a start yet, or the experiment may be started later).
"""


ENROLLMENT_OUTCOMES: Mapping[Enrollment, Outcome] = {
    Enrollment.STICKY: Outcome.STICKY,
    Enrollment.ENROLLED: Outcome.ENROLLED,
    Enrollment.EXCLUDED: Outcome.EXCLUDED,
    Enrollment.FULL: Outcome.FULL,
}
"""The answer for each final enrollment code (``STALE`` is not final: retry)."""


class Reason(enum.StrEnum):
    """Why an SDK decision came out as it did."""

    ASSIGNED = "assigned"
    """From the hash: this process has not heard the stored variation yet."""
    STORED = "stored"
    """The variation the service stored for this user."""
    EXCLUDED = "excluded"
    NOT_TARGETED = "not_targeted"
    """The experiment's condition or segments exclude the user's attributes."""
    NOT_RUNNING = "not_running"
    WINNER = "winner"
    FLAG_ON = "flag_on"
    """The flag's base rollout served its ``value``."""
    FLAG_OFF = "flag_off"
    """The flag is disabled: its ``default``."""
    NOT_IN_ROLLOUT = "not_in_rollout"
    """No rule served and the user is outside the base rollout: ``default``."""
    RULE = "rule"
    """A flag rule (force or rollout) served its value."""
    PREREQUISITE = "prerequisite"
    """A flag the flag ``requires`` is not on for the user: ``default``."""
    UNKNOWN = "unknown"
    """No experiment or flag of that key in the snapshot."""
    NO_CONFIG = "no_config"
    """No snapshot yet."""
    ERROR = "error"
