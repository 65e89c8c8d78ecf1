"""The decision: outcomes per metric and the experiment's state, from summaries.

Each case is a small table of counts whose right answer is known: the audit's
reproducers, guardrails with and without a margin, the adjusted family, the
minimum sample, the fixed-horizon mode and the SRM.
"""

from __future__ import annotations

import pytest
from statsmodels.stats.multitest import multipletests  # type: ignore[import-untyped]

from abflask.core.metric import AnalysisSettings, Metric
from abflask.core.stats import inference as stats
from abflask.core.stats import verdict
from abflask.core.stats.inference import Summary

NAMES = ("control", "treatment")
DEFAULT = AnalysisSettings()


def conversion(metric: Metric, *arms: tuple[int, int]) -> verdict.MetricData:
    """A metric from (converters, participants) per variation, control first."""
    summaries = [Summary.of_counts(c, n) for c, n in arms]
    return verdict.MetricData(metric, summaries, summaries)


def decide(
    *data: verdict.MetricData,
    settings: AnalysisSettings = DEFAULT,
    names: tuple[str, ...] = NAMES,
    srm: bool = False,
) -> verdict.Evaluation:
    counts = [s.n for s in data[0].conversion]
    return verdict.evaluate(names, list(data), settings, counts, srm=srm)


BUY = Metric("buy")


def test_a_wipe_out_is_worse_not_inconclusive() -> None:
    found = decide(conversion(BUY, (31, 2000), (0, 2000)))
    assert found.decision.state == "dont_ship"
    assert found.metrics[0].outcomes == ["worse"]
    assert "treatment is worse than control on buy" in found.decision.summary


def test_a_total_wipe_out_is_worse_with_a_tiny_p_value() -> None:
    found = decide(conversion(BUY, (1000, 1000), (0, 1000)))
    ev = found.metrics[0]
    assert ev.outcomes == ["worse"]
    assert ev.tested()[0].p_value < 1e-6
    assert ev.adjusted_sequential[0] is not None and ev.adjusted_sequential[0] < 1e-6


def test_ten_against_two_in_four_thousand_is_not_significant() -> None:
    found = decide(conversion(BUY, (10, 4000), (2, 4000)))
    assert found.metrics[0].outcomes == ["inconclusive"]
    assert found.decision.state == "keep_running"
    assert "worse" not in found.decision.summary


def test_a_clear_win_ships_with_its_interval() -> None:
    found = decide(conversion(BUY, (1000, 10_000), (1300, 10_000)))
    assert found.decision.state == "ship"
    assert found.decision.variation == "treatment"
    assert found.metrics[0].verdict.startswith(
        "treatment beats control on buy: +30.0% ["
    )


def test_lower_is_better_turns_a_drop_into_a_win() -> None:
    errors = Metric("error", direction="lower")
    found = decide(conversion(errors, (1300, 10_000), (1000, 10_000)))
    assert found.metrics[0].outcomes == ["better"]
    assert found.decision.state == "ship"


def test_a_revenue_drop_reaches_the_verdict() -> None:
    """A value metric is read as a value, not as its conversion."""
    revenue = Metric("revenue", type="value")
    same = [Summary.of_counts(500, 5000), Summary.of_counts(500, 5000)]
    values = [Summary(5000, 10.0, 400.0), Summary(5000, 7.0, 300.0)]
    found = decide(verdict.MetricData(revenue, same, values))
    assert found.metrics[0].outcomes == ["worse"]
    assert found.decision.state == "dont_ship"


def test_too_little_data_is_unreliable_and_gates_every_outcome() -> None:
    found = decide(conversion(BUY, (100, 100), (0, 100)))
    assert found.metrics[0].outcomes == ["too_little_data"]
    assert found.decision.state == "unreliable"
    assert "at least 150 per variation" in found.decision.summary


def test_srm_makes_everything_unreliable() -> None:
    found = decide(conversion(BUY, (1000, 10_000), (1300, 10_000)), srm=True)
    assert found.decision.state == "unreliable"
    assert "sample ratio mismatch" in found.decision.summary


def test_the_no_difference_words_never_say_zero_more_users() -> None:
    found = decide(conversion(BUY, (20_000, 200_000), (20_000, 200_000)))
    ev = found.metrics[0]
    assert ev.users_needed is not None and ev.users_needed < 200_000
    assert "more users" not in ev.verdict
    assert "would most likely have been detected by now" in ev.verdict


def test_users_needed_counts_the_family() -> None:
    one = decide(conversion(BUY, (100, 1000), (100, 1000)))
    three = decide(
        conversion(BUY, (100, 1000), (100, 1000)),
        conversion(Metric("a", role="secondary"), (100, 1000), (100, 1000)),
        conversion(Metric("b", role="secondary"), (100, 1000), (100, 1000)),
    )
    assert three.family == 3 and one.family == 1
    control = Summary.of_counts(100, 1000)
    assert three.metrics[0].users_needed == stats.users_needed(
        control, "conversion", mde=0.05, family=3, tuning=10_000.0
    )
    assert three.metrics[0].users_needed > one.metrics[0].users_needed  # type: ignore[operator]


@pytest.mark.parametrize("correction", ["holm", "bh"])
def test_primary_and_secondary_metrics_form_one_adjusted_family(
    correction: str,
) -> None:
    metrics = [
        conversion(Metric("a"), (1000, 10_000), (1100, 10_000)),
        conversion(Metric("b", role="secondary"), (1000, 10_000), (1150, 10_000)),
        conversion(Metric("c", role="secondary"), (1000, 10_000), (1010, 10_000)),
        conversion(Metric("g", role="guardrail"), (1000, 10_000), (900, 10_000)),
    ]
    found = decide(*metrics, settings=AnalysisSettings(correction=correction))
    tested = found.metrics[:3]
    raw = [ev.tested()[0].p_value_sequential for ev in tested]
    method = "holm" if correction == "holm" else "fdr_bh"
    want = multipletests(raw, method=method)[1]
    got = [ev.adjusted_sequential[0] for ev in tested]
    assert got == pytest.approx(list(want), abs=1e-12)
    assert found.metrics[3].adjusted_sequential == [None]  # guardrails are not in it


def test_a_harmed_guardrail_blocks_a_winner() -> None:
    refunds = Metric("refund", role="guardrail", direction="lower")
    found = decide(
        conversion(BUY, (1000, 10_000), (1300, 10_000)),
        conversion(refunds, (100, 10_000), (300, 10_000)),
    )
    assert found.metrics[0].outcomes == ["better"]
    assert found.metrics[1].outcomes == ["harmed"]
    assert found.decision.state == "harmful"
    assert "treatment harms guardrail refund" in found.decision.summary


def test_a_guardrail_within_its_margin_lets_the_winner_ship() -> None:
    refunds = Metric("refund", role="guardrail", direction="lower", margin=0.2)
    found = decide(
        conversion(BUY, (1000, 20_000), (1300, 20_000)),
        conversion(refunds, (2000, 20_000), (2010, 20_000)),
    )
    assert found.metrics[1].outcomes == ["within_margin"]
    assert found.decision.state == "ship"


def test_a_guardrail_not_yet_shown_within_its_margin_keeps_it_running() -> None:
    refunds = Metric("refund", role="guardrail", direction="lower", margin=0.01)
    found = decide(
        conversion(BUY, (1000, 20_000), (1300, 20_000)),
        conversion(refunds, (2000, 20_000), (2010, 20_000)),
    )
    assert found.metrics[1].outcomes == ["inconclusive"]
    assert found.decision.state == "keep_running"
    assert "not yet shown within its margin" in found.decision.summary


def test_a_small_degradation_within_the_margin_is_not_harm() -> None:
    """Significantly worse, but by less than the tolerated margin."""
    latency = Metric("slow", role="guardrail", direction="lower", margin=0.10)
    found = decide(
        conversion(BUY, (1000, 200_000), (1300, 200_000)),
        conversion(latency, (40_000, 200_000), (41_000, 200_000)),
    )
    bound = found.metrics[1].harm_bound[0]
    assert bound is not None and -0.10 < bound < 0
    assert found.metrics[1].outcomes == ["within_margin"]
    assert found.decision.state == "ship"


def test_fixed_mode_waits_for_the_planned_sample() -> None:
    settings = AnalysisSettings(mode="fixed", planned_users=40_000)
    early = decide(conversion(BUY, (1000, 10_000), (1300, 10_000)), settings=settings)
    assert early.metrics[0].outcomes == ["waiting"]
    assert early.decision.state == "keep_running"
    assert "10,000" in early.metrics[0].verdict or "20,000" in early.metrics[0].verdict
    done = decide(conversion(BUY, (2000, 20_000), (2300, 20_000)), settings=settings)
    assert done.metrics[0].outcomes == ["better"]
    assert done.decision.state == "ship"


def test_the_best_of_several_winners_ships() -> None:
    found = decide(
        conversion(BUY, (1000, 10_000), (1300, 10_000), (1500, 10_000)),
        names=("control", "b", "c"),
    )
    assert found.metrics[0].outcomes == ["better", "better"]
    assert found.decision.variation == "c"


def test_without_a_primary_metric_nothing_ships() -> None:
    found = decide(
        conversion(Metric("a", role="secondary"), (1000, 10_000), (1300, 10_000))
    )
    assert found.decision.state == "keep_running"
    assert "No primary metric" in found.decision.summary
