"""Tests for abflask.core: GrowthBook's cross-SDK cases plus our JS-SDK vectors.

``data/growthbook_cases.json`` holds four sections of GrowthBook's cases.json;
``data/hash_vectors.json`` was produced by the real JS SDK (see its "source").
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from abflask.core import bucketing as core

DATA = Path(__file__).parent / "data"
CASES: dict[str, list[Any]] = json.loads(
    (DATA / "growthbook_cases.json").read_text(encoding="utf-8")
)
VECTORS: dict[str, Any] = json.loads(
    (DATA / "hash_vectors.json").read_text(encoding="utf-8")
)
IDS = [f"user-{i}" for i in range(10_000)]

_TABLES: dict[str, tuple[list[Any], Callable[[Any], str]]] = {
    "gb_hash": (CASES["hash"], lambda c: f"v{c[2]}-seed={c[0]!r}-value={c[1]!r}"),
    "gb_bucket_range": (CASES["getBucketRange"], lambda c: str(c[0])),
    "gb_choose_variation": (CASES["chooseVariation"], lambda c: str(c[0])),
    "gb_in_namespace": (CASES["inNamespace"], lambda c: str(c[0])),
    "js_hash": (VECTORS["hash"], lambda c: str(c["name"])),
    "js_choose_variation": (VECTORS["chooseVariation"], lambda c: str(c["name"])),
    "js_in_namespace": (VECTORS["inNamespace"], lambda c: str(c["name"])),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize each ``gb_*`` / ``js_*`` argument with its table's rows."""
    for name, (rows, make_id) in _TABLES.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, rows, ids=[make_id(row) for row in rows])


def fnv_units(units: Iterable[int]) -> int:
    """Reference FNV-1a written as the JS SDK writes it (shifts, then ``>>> 0``)."""
    h = 0x811C9DC5
    for unit in units:
        h ^= unit
        h += (h << 1) + (h << 4) + (h << 7) + (h << 8) + (h << 24)
        h &= 0xFFFFFFFF
    return h


# --- GrowthBook's cross-SDK cases -------------------------------------------


def test_hash_matches_growthbook_cases(gb_hash: list[Any]) -> None:
    seed, value, version, expected = gb_hash
    assert core.bucket_hash(seed, value, version) == expected


def test_bucket_ranges_match_growthbook_cases(gb_bucket_range: list[Any]) -> None:
    _, (n, coverage, weights), expected = gb_bucket_range
    actual = core.bucket_ranges(n, coverage, weights)
    # Rounded as growthbook-python's tests do: 0.2 * 0.2 is 0.04000000000000001.
    assert [[round(x, 6) for x in pair] for pair in actual] == expected


def test_choose_from_ranges_matches_growthbook_cases(
    gb_choose_variation: list[Any],
) -> None:
    _, h, ranges, expected = gb_choose_variation
    assert core.choose_from_ranges(h, [tuple(r) for r in ranges]) == expected


def test_in_namespace_matches_growthbook_cases(gb_in_namespace: list[Any]) -> None:
    _, user_id, namespace, expected = gb_in_namespace
    assert core.in_namespace(user_id, tuple(namespace)) is expected


# --- vectors produced by the real JavaScript SDK ----------------------------


def test_vectors_name_their_source() -> None:
    assert VECTORS["source"].startswith("@growthbook/growthbook@")


def test_hash_matches_js_sdk(js_hash: dict[str, Any]) -> None:
    actual = core.bucket_hash(js_hash["seed"], js_hash["value"], js_hash["version"])
    assert actual == js_hash["expected"]


def test_choose_variation_matches_js_sdk(js_choose_variation: dict[str, Any]) -> None:
    case = js_choose_variation
    actual = core.choose_variation(
        case["user_id"],
        case["seed"],
        case["weights"],
        case["coverage"],
        case["hash_version"],
        n=case["n"],
    )
    assert actual == case["expected"]


def test_in_namespace_matches_js_sdk(js_in_namespace: dict[str, Any]) -> None:
    user_id, namespace = js_in_namespace["user_id"], js_in_namespace["namespace"]
    assert core.in_namespace(user_id, tuple(namespace)) is js_in_namespace["expected"]


# --- fnv1a32 over UTF-16 code units -----------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", 0x811C9DC5), ("a", 0xE40C292C), ("foobar", 0xBF9CF968)],
    ids=["empty", "a", "foobar"],
)
def test_fnv1a32_matches_published_ascii_vectors(value: str, expected: int) -> None:
    assert core.fnv1a32(value) == expected


@pytest.mark.parametrize(
    ("value", "units"),
    [
        ("é", [0xE9]),
        ("中", [0x4E2D]),
        ("😀", [0xD83D, 0xDE00]),
        ("𝔘", [0xD835, 0xDD18]),
        ("u😀2", [0x75, 0xD83D, 0xDE00, 0x32]),
        ("\ud83d", [0xD83D]),
    ],
    ids=["bmp-e-acute", "bmp-cjk", "emoji", "math-fraktur", "mixed", "lone-surrogate"],
)
def test_fnv1a32_hashes_utf16_code_units(value: str, units: list[int]) -> None:
    assert core.fnv1a32(value) == fnv_units(units)


def test_fnv1a32_does_not_hash_code_points() -> None:
    # Older Python SDKs hashed ord(char); the JS SDK sees two surrogate units.
    assert core.fnv1a32("😀") != fnv_units([0x1F600])


# --- unsupported hash versions ----------------------------------------------


@pytest.mark.parametrize("version", [0, 3, 99, -1])
def test_hash_unsupported_version_is_none(version: int) -> None:
    assert core.bucket_hash("seed", "user-1", version) is None


def test_choose_variation_unsupported_version_is_minus_one() -> None:
    assert core.choose_variation("user-1", "seed", [0.5, 0.5], hash_version=99) == -1


def test_choose_from_ranges_none_hash_is_minus_one() -> None:
    assert core.choose_from_ranges(None, [(0.0, 1.0)]) == -1


def test_in_rollout_unsupported_version_is_false() -> None:
    assert core.in_rollout("user-1", "seed", 1.0, hash_version=99) is False


# --- bucketing rules ----------------------------------------------------------


def test_zero_coverage_enrolls_nobody() -> None:
    assert {core.choose_variation(u, "exp", None, coverage=0.0) for u in IDS} == {-1}


@pytest.mark.parametrize(
    ("n", "weights"),
    [(2, [0.7, 0.6]), (2, [0.4, 0.1]), (2, [0.5, 0.3, 0.2]), (3, [0.5, 0.5])],
    ids=["sum-above", "sum-below", "too-many", "too-few"],
)
def test_bad_weights_fall_back_to_equal(n: int, weights: list[float]) -> None:
    equal = core.bucket_ranges(n, 1.0, None)
    assert core.bucket_ranges(n, 1.0, weights) == equal
    assert [core.choose_variation(u, "exp", weights, n=n) for u in IDS[:500]] == [
        core.choose_variation(u, "exp", None, n=n) for u in IDS[:500]
    ]


def test_no_weights_means_two_equal_variations() -> None:
    picks = [core.choose_variation(u, "exp", None) for u in IDS[:500]]
    assert set(picks) == {0, 1}
    assert picks == [core.choose_variation(u, "exp", [0.5, 0.5]) for u in IDS[:500]]


def test_bucket_ranges_with_no_variations_is_empty() -> None:
    assert core.bucket_ranges(0, 1.0, None) == []


# --- in_rollout -----------------------------------------------------------------


def test_in_rollout_zero_is_never_on() -> None:
    assert not any(core.in_rollout(u, "flag", 0.0) for u in IDS)


def test_in_rollout_one_is_always_on() -> None:
    assert all(core.in_rollout(u, "flag", 1.0) for u in IDS)


@pytest.mark.parametrize("version", [1, 2])
def test_in_rollout_share_tracks_rollout(version: int) -> None:
    share = sum(core.in_rollout(u, "flag", 0.3, version) for u in IDS) / len(IDS)
    assert share == pytest.approx(0.3, abs=0.02)


def test_raising_rollout_only_adds_users() -> None:
    at_30 = {u for u in IDS if core.in_rollout(u, "flag", 0.3)}
    at_50 = {u for u in IDS if core.in_rollout(u, "flag", 0.5)}
    assert at_30 < at_50


# --- purity -------------------------------------------------------------------


def test_import_pulls_in_no_heavy_modules() -> None:
    code = (
        "import sys, abflask.core; "
        "print(sorted({'flask', 'redis', 'numpy', 'pandas'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("seed", ["exp", "", "checkout-button-color", "种子", "😀"])
@pytest.mark.parametrize("user", ["u1", "user-😀-42", "ß", "a" * 256])
def test_seeded_hash_equals_hash_v2(seed: str, user: str) -> None:
    state = core.fnv1a32(seed)
    assert core.hash_v2_seeded(seed, state, user) == core.bucket_hash(seed, user, 2)
    assert core.fnv1a32(user, state) == core.fnv1a32(seed + user)


def pure_fnv1a32(value: str) -> int:
    """The reference loop over UTF-16 code units, with no C speed-up."""
    data = value.encode("utf-16-le", "surrogatepass")
    h = core.FNV_OFFSET
    for i in range(0, len(data), 2):
        h = ((h ^ int.from_bytes(data[i : i + 2], "little")) * 0x01000193) % 2**32
    return h


@pytest.mark.parametrize("accelerated", [True, False], ids=["c", "pure"])
def test_both_implementations_agree(
    accelerated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not accelerated:
        monkeypatch.setattr(core, "_fnv_bytes", None)
    elif core._fnv_bytes is None:
        pytest.skip("fnv-hash-fast is not installed")
    samples = [
        "",
        "a",
        "user-42",
        "checkout-button-color" + "x" * 300,
        "ß",
        "user-😀-42",
        "\ud800",
        "中文" * 40,
    ]
    samples += [f"{i:08x}-{i * 7919:x}" for i in range(2000)]
    for value in samples:
        assert core.fnv1a32(value) == pure_fnv1a32(value)
        assert core.hash_v2_seeded(
            "seed", core.fnv1a32("seed"), value
        ) == core.bucket_hash("seed", value, 2)


# --- the one decision -----------------------------------------------------------

DECIDE_USERS = [f"user-{i}" for i in range(3000)] + ["😀-1", "ß", "\ud800"]


@pytest.mark.parametrize(
    ("weights", "coverage", "version"),
    [
        (None, 1.0, 2),
        ([0.2, 0.3, 0.5], 0.8, 2),
        ([0.5, 0.5], 0.5, 1),
        ([0.1, 0.9], 0.0, 2),
    ],
)
def test_decide_equals_choose_variation(
    weights: list[float] | None, coverage: float, version: int
) -> None:
    n = 2 if weights is None else len(weights)
    split = core.make_split(
        "seed", version, core.bucket_ranges(n, coverage, weights), None
    )
    assert [core.decide(split, u) for u in DECIDE_USERS] == [
        core.choose_variation(u, "seed", weights, coverage, version, n=n)
        for u in DECIDE_USERS
    ]


def test_decide_excludes_users_outside_the_namespace() -> None:
    namespace = ("ns", 0.2, 0.6)
    split = core.make_split("seed", 2, core.bucket_ranges(2, 1.0, None), namespace)
    for user in DECIDE_USERS:
        inside = core.in_namespace(user, namespace)
        chosen = core.choose_variation(user, "seed", None)
        assert core.decide(split, user) == (chosen if inside else -1)


def test_decide_excludes_everyone_under_an_unknown_hash_version() -> None:
    split = core.make_split("seed", 3, core.bucket_ranges(2, 1.0, None), None)
    assert {core.decide(split, u) for u in DECIDE_USERS} == {-1}


def test_make_split_computes_the_seed_state_once() -> None:
    split = core.make_split("checkout", 2, [(0.0, 0.5), (0.5, 1.0)], None)
    assert split.seed_state == core.fnv1a32("checkout")
    assert split.ranges == ((0.0, 0.5), (0.5, 1.0))
