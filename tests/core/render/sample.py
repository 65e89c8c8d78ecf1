"""Results to render: the JSON shape of ``abflask.core.stats.schema``, built
small and by hand so each test states the numbers it checks."""

from __future__ import annotations

from typing import Any

T0 = 1_795_000_000  # 2026-11-18 11:06:40 UTC
HOUR, DAY = 3600, 86400


def comparison(
    rel_lift: float | None = None,
    ci: list[float | None] | None = None,
    p: float | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """A treatment's test on one type (all None: the control row)."""
    return {
        "abs_lift": None if rel_lift is None else rel_lift / 10,
        "abs_ci": None,
        "rel_lift": rel_lift,
        "rel_ci": ci,
        "p_value": p,
        "p_value_adjusted": p,
        "p_value_sequential": p,
        "p_value_sequential_adjusted": p,
        "abs_ci_sequential": None,
        "rel_ci_sequential": ci,
        "state": state,
    }


def variation(
    name: str,
    participants: int,
    converters: int,
    test: dict[str, Any] | None = None,
    outcome: str | None = None,
    harm_bound: float | None = None,
) -> dict[str, Any]:
    rate = converters / participants if participants else None
    return {
        "name": name,
        "participants": participants,
        "converters": converters,
        "conversion_rate": rate,
        "conversion_rate_ci": None if rate is None else [rate - 0.02, rate + 0.02],
        "mean": None if rate is None else rate * 30,
        "mean_ci": None if rate is None else [rate * 25, rate * 35],
        "sd": None,
        "outcome": outcome,
        "harm_bound": harm_bound,
        "conversion": test or comparison(),
        "value": test or comparison(),
    }


def metric(event: str = "buy", **changes: Any) -> dict[str, Any]:
    """A primary conversion metric, control 100/1000, green 120/1000 (+20%)."""
    return {
        "event": event,
        "type": "conversion",
        "role": "primary",
        "direction": "higher",
        "margin": None,
        "cap": None,
        "cap_percentile": None,
        "window": None,
        "cap_value": None,
        "nonnegative": True,
        "source": "job",
        "note": None,
        "variations": [
            variation("control", 1000, 100),
            variation(
                "green",
                1000,
                120,
                comparison(0.2, [-0.05, 0.45], 0.0421),
                "inconclusive",
            ),
        ],
        "users_needed": 12000,
        "verdict": "no detectable difference yet on buy",
        **changes,
    }


def point(t: int, n: int, lift: float | None, width: float = 0.3) -> dict[str, Any]:
    return {
        "t": t,
        "participants": [n, n],
        "converters": [n // 10, n // 8],
        "lift": [
            {
                "abs_lift": None,
                "abs_ci_sequential": [None, None],
                "rel_lift": lift,
                "rel_ci_sequential": [
                    None if lift is None else lift - width,
                    None if lift is None else lift + width,
                ],
            }
        ],
    }


def result(**changes: Any) -> Any:
    """An ExperimentResult of two variations, one metric and two hourly points."""
    return {
        "key": "exp",
        "name": "Checkout button",
        "status": "running",
        "generated_at": T0 + 2 * HOUR,
        "variations": ["control", "green"],
        "phase": {
            "index": 0,
            "count": 1,
            "started_at": T0,
            "ended_at": None,
            "weights": [0.5, 0.5],
        },
        "settings": {"alpha": 0.05, "mode": "sequential", "correction": "holm"},
        "participants": {"control": 1000, "green": 1000},
        "excluded": {
            "multiple_variations": 0,
            "phase_boundary": 0,
            "unattributed_events": 0,
        },
        "srm_p_value": 0.5,
        "srm_warning": False,
        "records_analysed": 31877,
        "source": "job",
        "decision": {
            "state": "keep_running",
            "variation": None,
            "summary": "Keep running: no detectable difference yet on buy.",
        },
        "metrics": [metric()],
        "timeseries": {
            "event": "buy",
            "type": "conversion",
            "step": HOUR,
            "points": [point(T0 + HOUR, 500, 0.1), point(T0 + 2 * HOUR, 1000, 0.2)],
        },
        **changes,
    }
