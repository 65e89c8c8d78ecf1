"""Deterministic assignment: GrowthBook hashing and bucketing, with no I/O.

Matches the JavaScript SDK bit for bit: FNV-1a runs over UTF-16 code units, so an
id outside the BMP buckets the same in every SDK. Nothing here reads the clock,
the network or Redis; stdlib only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

_fnv_bytes: Callable[[bytes], int] | None
try:  # the same function in C, 25x faster; optional (pip install fnv-hash-fast)
    from fnv_hash_fast import fnv1a_32 as _fnv_bytes
except ImportError:  # pragma: no cover - the pure loop below is the reference
    _fnv_bytes = None

__all__ = [
    "bucket_hash",
    "bucket_ranges",
    "choose_from_ranges",
    "choose_variation",
    "decide",
    "fnv1a32",
    "hash_v2_seeded",
    "in_namespace",
    "in_rollout",
    "make_split",
    "Split",
]

_UTF16 = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"
"""Codec whose bytes ``memoryview.cast("H")`` reads back as native code units."""


FNV_OFFSET = 0x811C9DC5
"""FNV-1a 32-bit offset basis: the state before any input."""


def fnv1a32(value: str, state: int = FNV_OFFSET) -> int:
    """Return the 32-bit FNV-1a hash of ``value``'s UTF-16 code units.

    Same as the JS SDK's ``hashFnv32a`` over ``str.charCodeAt(i)``: a character
    outside the BMP counts as its two surrogate units, and a lone surrogate is
    hashed as itself (``surrogatepass``) instead of raising. ``state`` continues
    from an earlier hash: ``fnv1a32(b, fnv1a32(a)) == fnv1a32(a + b)``.
    """
    # ASCII bytes are already the UTF-16 code units, and looping over bytes is
    # the fastest variant measured (~15% faster than the memoryview on uuids).
    units: bytes | memoryview
    if value.isascii():
        if state == FNV_OFFSET and _fnv_bytes is not None:
            return _fnv_bytes(value.encode("ascii"))
        units = value.encode("ascii")
    else:
        units = memoryview(value.encode(_UTF16, "surrogatepass")).cast("H")
    h = state
    for unit in units:  # literals in the loop beat global look-ups
        h = ((h ^ unit) * 0x01000193) & 0xFFFFFFFF  # FNV prime, mod 2**32
    return h


def _hash_v1(seed: str, value: str) -> float:
    # GrowthBook's original, slightly biased hash: 1000 buckets.
    return (fnv1a32(value + seed) % 1000) / 1000


def _hash_v2(seed: str, value: str) -> float:
    # Hashing the decimal string of the first hash removes v1's bias.
    return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000


def hash_v2_seeded(seed: str, seed_state: int, value: str) -> float:
    """``bucket_hash(seed, value, 2)`` given ``seed_state = fnv1a32(seed)``.

    The seed comes first in version 2, so without the C speed-up its part of
    the hash is computed once per experiment instead of once per user; with
    it, hashing ``seed + value`` whole is cheaper still.
    """
    if _fnv_bytes is not None and value.isascii() and seed.isascii():
        inner = _fnv_bytes((seed + value).encode("ascii"))
        return (_fnv_bytes(str(inner).encode("ascii")) % 10000) / 10000
    return (fnv1a32(str(fnv1a32(value, seed_state))) % 10000) / 10000


def bucket_hash(seed: str, value: str, version: int) -> float | None:
    """Return GrowthBook's bucket hash of ``value`` in [0, 1), or None.

    Version 1 has 1000 steps, version 2 has 10,000; any other version gives
    None, which callers treat as "not in the experiment".
    """
    if version == 2:
        return _hash_v2(seed, value)
    if version == 1:
        return _hash_v1(seed, value)
    return None


def bucket_ranges(
    n: int, coverage: float, weights: list[float] | None
) -> list[tuple[float, float]]:
    """Return one half-open ``(start, end)`` range per variation (getBucketRanges).

    Coverage is clamped to [0, 1]. Equal weights replace ``weights`` when it is
    None, has a length other than ``n``, or sums outside [0.99, 1.01]. Each range
    starts at the cumulative weight before it and spans ``coverage * weight``, so
    lowering coverage never moves a user to another variation. ``n <= 0`` gives
    no ranges.
    """
    if coverage < 0:
        coverage = 0.0
    elif coverage > 1:
        coverage = 1.0
    if weights is None or len(weights) != n or not 0.99 <= sum(weights) <= 1.01:
        weights = [1 / n] * n if n > 0 else []
    ranges: list[tuple[float, float]] = []
    cumulative = 0.0
    for weight in weights:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def choose_from_ranges(h: float | None, ranges: Sequence[tuple[float, float]]) -> int:
    """Return the index of the first range with ``start <= h < end``, else -1.

    A None hash (unsupported version) gives -1. Callers that cache an
    experiment's ranges call this directly instead of ``choose_variation``.
    """
    if h is None:
        return -1
    for index, (start, end) in enumerate(ranges):
        if start <= h < end:
            return index
    return -1


def choose_variation(
    user_id: str,
    seed: str,
    weights: list[float] | None,
    coverage: float = 1.0,
    hash_version: int = 2,
    *,
    n: int | None = None,
) -> int:
    """Return the variation index for ``user_id``, or -1 when not enrolled.

    ``n`` defaults to ``len(weights)``, or 2 when weights is None; invalid
    weights fall back to equal ones (see ``bucket_ranges``). -1 means the hash
    fell outside coverage or the hash version is unsupported.
    """
    if n is None:
        n = 2 if weights is None else len(weights)
    h = bucket_hash(seed, user_id, hash_version)
    return choose_from_ranges(h, bucket_ranges(n, coverage, weights))


def in_namespace(user_id: str, namespace: tuple[str, float, float]) -> bool:
    """Return True when ``user_id`` falls in the namespace's ``[start, end)`` slice.

    As GrowthBook's inNamespace: hash version 1 with seed ``"__" + name``, so
    experiments sharing a namespace name split one set of users between them.
    """
    name, start, end = namespace
    return start <= _hash_v1("__" + name, user_id) < end


def in_rollout(user_id: str, seed: str, rollout: float, hash_version: int = 2) -> bool:
    """Return True when ``user_id``'s hash is below ``rollout`` (a share in [0, 1]).

    Half-open, so 0 is always off and 1 always on; raising the rollout only adds
    users. An unsupported hash version gives False. (GrowthBook's force rules use
    ``hash <= coverage``; the two differ only when the hash equals the rollout.)
    """
    if rollout >= 1.0 or rollout <= 0.0:  # every hash is in [0, 1): no need
        return rollout >= 1.0 and hash_version in (1, 2)
    h = bucket_hash(seed, user_id, hash_version)
    return h is not None and h < rollout


class Split(NamedTuple):
    """How one experiment splits users: all that ``decide`` needs, derived once.

    Build it with ``make_split``; the service's ``Experiment`` and the SDK's
    snapshot each keep one per experiment::

        split = make_split("checkout-btn", 2, bucket_ranges(2, 1.0, None), None)
        decide(split, "user-42")  # 0 or 1
    """

    seed: str
    seed_state: int
    """``fnv1a32(seed)``: hash version 2 continues from it."""
    hash_version: int
    ranges: tuple[tuple[float, float], ...]
    namespace: tuple[str, float, float] | None


def make_split(
    seed: str,
    hash_version: int,
    ranges: Sequence[tuple[float, float]],
    namespace: tuple[str, float, float] | None,
) -> Split:
    """A ``Split`` with the seed's part of the hash computed once."""
    return Split(seed, fnv1a32(seed), hash_version, tuple(ranges), namespace)


def decide(split: Split, user_id: str) -> int:
    """Return the variation index the hash gives ``user_id``, or -1 if excluded.

    The one decision shared by the service and the SDK. Excluded means
    outside the namespace range, outside coverage, or an unsupported hash
    version. Status, enrollment cap and stickiness are applied by the caller.
    """
    if split.namespace is not None and not in_namespace(user_id, split.namespace):
        return -1
    if split.hash_version == 2:
        h: float | None = hash_v2_seeded(split.seed, split.seed_state, user_id)
    else:
        h = bucket_hash(split.seed, user_id, split.hash_version)
    return choose_from_ranges(h, split.ranges)
