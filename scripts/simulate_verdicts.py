#!/usr/bin/env python3
"""Check the verdict by simulation: A/A false positives, coverage and power.

Runs bounded A/A and A/B simulations through the functions the analysis job
and the service's live results use (``inference.Summary``,
``inference.users_needed``, ``verdict.evaluate`` and
``sequential.srm_sequential_p_value``, all in ``abflask.core.stats``) and
prints, per setting:

* the A/A false-positive rate of the verdict (``ship`` or ``dont_ship`` at any
  of ``--looks`` evenly spaced looks), beside naive peeking at the fixed p-value;
* the coverage of the always-valid intervals (absolute in A/A and A/B,
  relative in A/B): the share of runs whose interval held the true effect at
  every look;
* the power at the ``users_needed`` the job reports: the share of A/B runs
  (true effect = the MDE) with a significant win at that sample size, and at
  any look up to it (the "small" settings stop earlier, on purpose, and show
  no power);
* the false alarms of the always-valid SRM check on a healthy 50/50 split.

Each setting plans as a user would: ``planned_users`` (the sequential tuning
N*) is twice the fixed-horizon sample size per arm for the MDE, and the looks
run up to ``users_needed``. Users arrive in equal numbers per arm; per-user
values are drawn exactly (conversions binomially, revenue as 90% zeros and
lognormal amounts). A few minutes with the defaults on 2 cores.

    python scripts/simulate_verdicts.py                # the README's table
    python scripts/simulate_verdicts.py --runs 200 --json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from abflask.core.metric import AnalysisSettings, Metric  # noqa: E402
from abflask.core.stats import inference, sequential, verdict  # noqa: E402

NAMES = ("control", "treatment")
DECLARED = ("ship", "dont_ship")
"""Decision states that claim a difference."""


@dataclass(frozen=True)
class Setting:
    """A metric to simulate: conversion at ``rate``, or revenue (``rate`` of
    users buy, amounts lognormal(0, ``sigma``))."""

    name: str
    kind: str
    rate: float
    mde: float
    sigma: float = 0.0
    horizon: int | None = None
    """Users per arm at the last look; None: the ``users_needed`` for the MDE
    (a small horizon checks the statistic where asymptotics are weakest)."""

    def control(self) -> inference.Summary:
        """The true per-user mean and variance of control (large n)."""
        if self.kind == "conversion":
            return inference.Summary(10**9, self.rate, self.rate * (1 - self.rate))
        first = math.exp(self.sigma**2 / 2)
        second = math.exp(2 * self.sigma**2)
        mean = self.rate * first
        return inference.Summary(10**9, mean, self.rate * second - mean * mean)

    def draw(
        self, rng: np.random.Generator, runs: int, sizes: np.ndarray, effect: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per run and look, cumulative (converters, sum, sum of squares) of an
        arm whose mean is the control's times ``1 + effect``."""
        looks = len(sizes)
        steps = np.diff(np.concatenate([[0], sizes]))
        if self.kind == "conversion":
            p = self.rate * (1 + effect)
            conv = rng.binomial(steps[None, :], p, size=(runs, looks)).cumsum(axis=1)
            return conv, conv.astype(float), conv.astype(float)
        conv = rng.binomial(steps[None, :], self.rate, size=(runs, looks))
        flat = conv.ravel()
        amounts = rng.lognormal(0.0, self.sigma, int(flat.sum())) * (1 + effect)
        cells = np.repeat(np.arange(flat.size), flat)
        total = np.bincount(cells, weights=amounts, minlength=flat.size)
        squares = np.bincount(cells, weights=amounts**2, minlength=flat.size)
        shape = (runs, looks)
        return (
            conv.cumsum(axis=1),
            total.reshape(shape).cumsum(axis=1),
            squares.reshape(shape).cumsum(axis=1),
        )


SETTINGS = (
    Setting("conversion 0.1%", "conversion", 0.001, mde=0.10),
    Setting("conversion 1%", "conversion", 0.01, mde=0.05),
    Setting("conversion 10%", "conversion", 0.10, mde=0.05),
    Setting("revenue, 90% zeros, lognormal", "value", 0.10, mde=0.10, sigma=1.2),
    Setting("conversion 0.1%, small", "conversion", 0.001, mde=0.10, horizon=5_000),
    Setting("conversion 1%, small", "conversion", 0.01, mde=0.10, horizon=2_000),
    Setting("revenue, small", "value", 0.10, mde=0.10, sigma=1.2, horizon=500),
)


def _summary(
    kind: str, n: int, conv: int, total: float, squares: float
) -> inference.Summary:
    if kind == "conversion":
        return inference.Summary.of_counts(conv, n)
    return inference.Summary.of_sums(n, total, squares)


def run_setting(setting: Setting, runs: int, looks: int, seed: int) -> dict[str, float]:
    """Simulate one setting; returns the rates (fractions of runs)."""
    rng = np.random.default_rng(seed)
    control = setting.control()
    kind = setting.kind
    fixed_n = inference.users_needed(control, kind, mde=setting.mde, mode="fixed")
    assert fixed_n is not None
    settings = AnalysisSettings(mde=setting.mde, planned_users=2 * fixed_n)
    needed = inference.users_needed(
        control, kind, mde=setting.mde, tuning=float(settings.planned_users)
    )
    assert needed is not None
    last = setting.horizon or needed
    sizes = np.unique(np.linspace(last / looks, last, looks).round().astype(int))
    metric = Metric(event="metric", type=kind)
    truth_abs = {0.0: 0.0, setting.mde: control.mean * setting.mde}
    out: dict[str, float] = {
        "users_needed": needed,
        "planned_users": settings.planned_users,
        "last_look": int(sizes[-1]),
    }
    for effect, label in ((0.0, "aa"), (setting.mde, "ab")):
        c_conv, c_sum, c_sq = setting.draw(rng, runs, sizes, 0.0)
        t_conv, t_sum, t_sq = setting.draw(rng, runs, sizes, effect)
        declared = peeked = covered_abs = covered_rel = won_last = won_ever = 0
        for r in range(runs):
            ever = naive = win = False
            abs_ok = rel_ok = True
            for j, n in enumerate(sizes):
                n = int(n)
                arms = [
                    _summary(kind, n, int(c_conv[r, j]), c_sum[r, j], c_sq[r, j]),
                    _summary(kind, n, int(t_conv[r, j]), t_sum[r, j], t_sq[r, j]),
                ]
                conversion = [
                    inference.Summary.of_counts(int(x[r, j]), n)
                    for x in (c_conv, t_conv)
                ]
                data = verdict.MetricData(
                    metric,
                    conversion,
                    arms if kind == "value" else conversion,
                    nonnegative=True,
                )
                found = verdict.evaluate(NAMES, [data], settings, [n, n])
                ev = found.metrics[0]
                cmp = ev.tested()[0]
                ever |= found.decision.state in DECLARED
                win |= ev.outcomes[0] == "better"
                naive |= cmp.p_value < settings.alpha
                low, high = cmp.abs_ci_sequential
                abs_ok &= not (low > truth_abs[effect] or high < truth_abs[effect])
                rlow, rhigh = cmp.rel_ci_sequential
                rel_ok &= not (rlow > effect or rhigh < effect)
            declared += ever
            peeked += naive
            covered_abs += abs_ok
            covered_rel += rel_ok
            won_ever += win
            won_last += ev.outcomes[0] == "better"
        if label == "aa":
            out["false_positive_rate"] = declared / runs
            out["naive_peeking_rate"] = peeked / runs
            out["coverage_abs_aa"] = covered_abs / runs
        else:
            out["coverage_abs_ab"] = covered_abs / runs
            out["coverage_rel_ab"] = covered_rel / runs
            out["power_at_users_needed"] = won_last / runs
            out["power_any_look"] = won_ever / runs
    out["srm_false_alarm_rate"] = _srm_false_alarms(rng, runs, sizes)
    return out


def _srm_false_alarms(rng: np.random.Generator, runs: int, sizes: np.ndarray) -> float:
    """Share of healthy 50/50 runs whose SRM check ever fires at the looks."""
    steps = np.diff(np.concatenate([[0], 2 * sizes]))
    first = rng.binomial(steps[None, :], 0.5, size=(runs, len(sizes))).cumsum(axis=1)
    totals = (2 * sizes)[None, :]
    fired = 0
    for r in range(runs):
        fired += any(
            sequential.srm_sequential_p_value([int(a), int(t - a)], [0.5, 0.5])
            < sequential.SRM_THRESHOLD
            for a, t in zip(first[r], totals[0], strict=True)
        )
    return fired / runs


def power(row: dict[str, float], name: str) -> str:
    """A power figure, or a dash where the last look is not ``users_needed``."""
    if row["last_look"] != row["users_needed"]:
        return "—"
    return f"{row[name]:.1%}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=2000, help="runs per setting and arm"
    )
    parser.add_argument("--looks", type=int, default=24, help="looks per run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON, not a table")
    args = parser.parse_args(argv)
    began = time.monotonic()
    rows = {}
    for i, setting in enumerate(SETTINGS):
        rows[setting.name] = run_setting(setting, args.runs, args.looks, args.seed + i)
        rows[setting.name]["mde"] = setting.mde
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"{args.runs} runs per setting and arm, {args.looks} looks up to users_needed, "
        f"alpha 0.05, power 0.8 ({time.monotonic() - began:.0f} s)\n"
    )
    head = (
        "setting",
        "MDE",
        "users/arm",
        "(needed)",
        "A/A false pos.",
        "naive peeking",
        "coverage abs A/A",
        "abs A/B",
        "rel A/B",
        "power at n",
        "any look",
        "SRM alarms",
    )
    table = [head]
    for name, r in rows.items():
        table.append(
            (
                name,
                f"{r['mde']:.0%}",
                f"{int(r['last_look']):,}",
                f"{int(r['users_needed']):,}",
                f"{r['false_positive_rate']:.1%}",
                f"{r['naive_peeking_rate']:.1%}",
                f"{r['coverage_abs_aa']:.1%}",
                f"{r['coverage_abs_ab']:.1%}",
                f"{r['coverage_rel_ab']:.1%}",
                power(r, "power_at_users_needed"),
                power(r, "power_any_look"),
                f"{r['srm_false_alarm_rate']:.2%}",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
