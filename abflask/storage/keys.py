"""Every Redis key name and hash tag: the one place they are built. Pure.

Every key of one experiment carries the hash tag ``{<experiment>}`` so each of
its writes is one atomic script, on a single Redis or on Redis Cluster. User
ids and event ids are kept as 8-byte BLAKE2b fingerprints, never as raw text:
that keeps memory small (and keeps personal ids out of Redis).

Keyspace, with the default prefix ``ab`` and an experiment ``E`` (bytes are
measured with the bundled Redis, see the README):

| key | type | holds | bytes |
|---|---|---|---|
| `ab:exps` | set | keys of all experiments | per experiment ~70 |
| `ab:flags` | set | keys of all feature flags | per flag ~70 |
| `ab:segs` | set | keys of all segments | per segment ~70 |
| `ab:ns` | hash | experiment key → `<namespace id> <start> <end>` of every experiment in a namespace; checked and written with the definition, so ranges never overlap | per such experiment ~60 |
| `ab:f:{K}` | hash | flag `K`: `json` definition, `ver` version | ~300 |
| `ab:seg:{S}` | hash | segment `S`: `json` definition (its values or condition), `ver` version | ~500; a list segment ~300 + the characters of its values + 5 per value |
| `ab:x:{E}:cfg` | hash | `json` definition (with its metrics, analysis settings and phases), `ver` version (bumped by every change) | ~1 KiB |
| `ab:x:{E}:a:<b>` | hash, listpack | user field (6 bytes of the fingerprint) → 32 × (exposure second − the first phase's start second) + variation index; `b` = 0..16383 from the fingerprint's first 14 bits | ~15 per participant |
| `ab:x:{E}:c` | hash | live counters, per phase `ph` (`x`: the second a later phase began), variation `v` and event id `e`: `n` participants, `p:ph:v` participants, `u:ph:v:e` users with an attributed event, `k:ph:v:e` attributed events, `s:ph:v:e` and `q:ph:v:e` sum and sum of squares of per-user totals (fixed cap applied), `m:ph:v:e` users with a negative total; `g:e` counting rule, `xu` unattributed events, `tm`/`ts` snapshot schedule (grammar in `abflask/storage/counters.py`) | ~100 per phase, variation and metric |
| `ab:x:{E}:ts` | list | snapshots of the current phase's counters (participants and the lead metric), one per minute with writes, at most 512: beyond, every other one is dropped and the step doubles | ~(20 + 50 per variation) per snapshot |
| `ab:x:{E}:log` | list | the event log: one packed record per exposure and per event (layout below) | 16 per exposure, 18 per event, 26 with a value |
| `ab:x:{E}:ev` | hash | event key → small event id; `#` → last id given; `#u` → ids given to keys outside the experiment's metrics (at most 1,000, so they never crowd out a metric) | per event key ~20 |
| `ab:x:{E}:u:<b>` | hash, listpack | user field + event id (8 bytes) → the user's value total for that event | ~12 per user and event key |
| `ab:x:{E}:d:<b>` | hash, listpack | user and event_id field (6 bytes of their fingerprint) → 1, for deduplication | ~10 per event with an event_id |
| `ab:x:{E}:an` | hash | analysis bookmark: `pos` log records analysed, `state` id of the analysis state file holding the per-user aggregates, `at` time | ~100 |
| `ab:x:{E}:res` | string | latest analysis results, JSON (served by `GET /experiments/E/results`) | ~1-10 KiB |
| `ab:lock:analysis` | string | token of the running analysis job; expires by itself | ~60 |

The event-log record layout is in ``abflask/core/records.py``. One name is a
pub/sub channel, not a key (nothing is stored): `ab:chg` carries a message
after every change to an experiment, flag or segment definition; each worker process
listens and reloads its cached definitions (``abflask/storage/changes.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

BUCKETS = 16384
"""Assignment, user-metric and dedup buckets per experiment (a power of two)."""
EXPERIMENT_PARTS = ("cfg", "c", "ts", "log", "ev", "an", "res")
"""The single keys of an experiment."""
BUCKETED_PARTS = ("a", "u", "d")
"""The bucketed keys of an experiment: ``<part>:<bucket>``."""


def bucket(fp: bytes) -> int:
    """The bucket of a fingerprint: its first 14 bits."""
    return int.from_bytes(fp[:2], "big") & (BUCKETS - 1)


class Keys:
    """Key names under one prefix.

    >>> Keys("ab").experiment("checkout-btn", "a:5")
    'ab:x:{checkout-btn}:a:5'
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def registry(self, kind: str) -> str:
        """The set listing every experiment (``exps``), flag (``flags``) or
        segment (``segs``)."""
        return self._key(kind)

    def experiment(self, experiment: str, part: str) -> str:
        """One key of an experiment: ``<prefix>:x:{<experiment>}:<part>``."""
        return self._key("x", "{" + experiment + "}", part)

    def namespaces(self) -> str:
        """The index of every experiment's namespace range (for overlap checks)."""
        return self._key("ns")

    def flag(self, flag: str) -> str:
        """A flag's definition hash."""
        return self._key("f", "{" + flag + "}")

    def segment(self, segment: str) -> str:
        """A segment's definition hash."""
        return self._key("seg", "{" + segment + "}")

    def changes(self) -> str:
        """The pub/sub channel announcing every definition change."""
        return self._key("chg")

    def lock(self, name: str) -> str:
        """A lock held by one process at a time."""
        return self._key("lock", name)

    def experiment_keys(self, experiment: str) -> Iterator[str]:
        """Every key an experiment may own (for deletion and tests)."""
        for part in EXPERIMENT_PARTS:
            yield self.experiment(experiment, part)
        for kind in BUCKETED_PARTS:
            for b in range(BUCKETS):
                yield self.experiment(experiment, f"{kind}:{b}")
