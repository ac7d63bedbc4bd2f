"""Rubric-score means, issue-tag rates and strengths/weaknesses (leaderboards/stats/diagnostics.py).

The coverage test simulates boards where prompts differ (a prompt that trips a model up trips up
all three raters): the prompt bootstrap must still hold the true tag rate about 95% of the time.
Seeds are fixed, so the numbers are exact repeats.
"""

from __future__ import annotations

import numpy as np
import pytest

from leaderboards.stats import (
    AnswerSums,
    StatsInputError,
    answer_diagnostics,
    standing_differences,
)


def sums_from(rows: list[tuple[int, int, int, list[float], list[int], list[int]]]) -> AnswerSums:
    """(prompt, model, answers, score sums, score counts, tag counts) rows as AnswerSums."""
    return AnswerSums(
        prompt=np.array([r[0] for r in rows], dtype=np.int64),
        model=np.array([r[1] for r in rows], dtype=np.int64),
        answers=np.array([r[2] for r in rows], dtype=np.int64),
        score_sum=np.array([r[3] for r in rows], dtype=np.float64),
        score_n=np.array([r[4] for r in rows], dtype=np.int64),
        tag_count=np.array([r[5] for r in rows], dtype=np.int64),
    )


def test_means_and_rates_are_ratios_of_the_totals_and_error_sources_rank_pooled_rates() -> None:
    sums = sums_from(
        [
            # prompt, model, answers, [dim sums], [dim counts], [tag counts: bug, style]
            (1, 10, 3, [12.0, 9.0], [3, 3], [1, 0]),
            (2, 10, 3, [6.0, 3.0], [3, 3], [3, 0]),
            (1, 20, 3, [15.0, 15.0], [3, 3], [0, 1]),
            (3, 20, 6, [20.0, 0.0], [5, 0], [0, 0]),  # one score missing, dimension 2 unscored
        ]
    )
    result = answer_diagnostics(sums, replicas=200, seed=3)
    assert result.models.tolist() == [10, 20]
    assert result.answers.tolist() == [6, 9]
    np.testing.assert_allclose(result.score_mean, [[18 / 6, 12 / 6], [35 / 8, 15 / 3]])
    assert result.score_n.tolist() == [[6, 6], [8, 3]]
    np.testing.assert_allclose(result.tag_rate, [[4 / 6, 0.0], [0.0, 1 / 9]])
    assert result.tag_count.tolist() == [[4, 0], [0, 1]]
    np.testing.assert_allclose(result.pooled_rate, [4 / 15, 1 / 15])
    assert result.pooled_answers == 15 and result.pooled_count.tolist() == [4, 1]
    assert result.error_order.tolist() == [0, 1]
    # Bounds hold the estimate and stay within what the data allow.
    assert (result.tag_lower <= result.tag_rate + 1e-12).all()
    assert (result.tag_rate <= result.tag_upper + 1e-12).all()
    assert (result.tag_lower >= 0).all() and (result.tag_upper <= 1).all()
    assert (result.score_lower >= 1.0 - 1e-9).all() and (result.score_upper <= 5.0 + 1e-9).all()


def test_the_same_seed_gives_the_same_bounds_whatever_the_row_order() -> None:
    rng = np.random.default_rng(5)
    rows = [
        (p, m, 3, [float(rng.integers(3, 16))], [3], [int(rng.integers(0, 4))])
        for p in range(30)
        for m in (1, 2, 3)
    ]
    first = answer_diagnostics(sums_from(rows), replicas=100, seed=9)
    again = answer_diagnostics(sums_from(rows[::-1]), replicas=100, seed=9)
    other = answer_diagnostics(sums_from(rows), replicas=100, seed=10)
    np.testing.assert_array_equal(first.tag_lower, again.tag_lower)
    np.testing.assert_array_equal(first.score_upper, again.score_upper)
    assert not np.array_equal(first.tag_lower, other.tag_lower)


def test_wide_boards_are_multiplied_block_by_block_with_the_same_numbers(monkeypatch) -> None:
    from leaderboards.stats import diagnostics

    rng = np.random.default_rng(6)
    rows = [
        (p, m, 2, [float(rng.integers(2, 11))], [2], [int(rng.integers(0, 3))])
        for p in range(40)
        for m in range(7)
    ]
    dense = answer_diagnostics(sums_from(rows), replicas=80, seed=1)
    monkeypatch.setattr(diagnostics, "_DENSE_ENTRY_LIMIT", 40 * 4 * 2)  # two models per block
    blocked = answer_diagnostics(sums_from(rows), replicas=80, seed=1)
    np.testing.assert_allclose(dense.tag_upper, blocked.tag_upper)
    np.testing.assert_allclose(dense.score_lower, blocked.score_lower)


def _clustered_board(rng: np.random.Generator, rates: np.ndarray, prompts: int) -> AnswerSums:
    """Each prompt trips each model up with its own chance (Beta around the model's rate)."""
    rows = []
    concentration = 3.0  # strong prompt effects: ratings of a prompt are far from independent
    for prompt in range(prompts):
        for model, rate in enumerate(rates):
            answers = 6  # two comparisons x three raters
            chance = rng.beta(rate * concentration, (1 - rate) * concentration)
            tagged = int(rng.binomial(answers, chance))
            score = float(rng.normal(3.0 + model, 1.0) * answers)
            rows.append((prompt, model, answers, [score], [answers], [tagged]))
    return sums_from(rows)


def test_intervals_of_tag_rates_cover_the_true_rate_in_a_simulation() -> None:
    rng = np.random.default_rng(2026)
    rates = np.array([0.1, 0.25, 0.5])
    hits = np.zeros(len(rates))
    naive_hits = np.zeros(len(rates))
    boards = 150
    for board in range(boards):
        sums = _clustered_board(rng, rates, prompts=60)
        result = answer_diagnostics(sums, replicas=300, seed=board)
        hits += (result.tag_lower[:, 0] <= rates) & (rates <= result.tag_upper[:, 0])
        # The same rate with a binomial interval that takes every rating as independent.
        rate, n = result.tag_rate[:, 0], result.answers
        half = 1.96 * np.sqrt(rate * (1 - rate) / n)
        naive_hits += (rate - half <= rates) & (rates <= rate + half)
    coverage = hits / boards
    # 150 intervals per rate: binomial noise is about +-1.8 points around 95%. A rare tag with
    # strong prompt effects is skewed, and the percentile interval then falls a little short
    # (about 90% at a 10% rate on 40-80 prompts; the reflected "basic" interval does worse).
    assert (coverage >= 0.88).all() and (coverage <= 0.99).all(), coverage
    assert hits.sum() / (boards * len(rates)) >= 0.91, coverage
    # Resampling prompts matters: ignoring the clustering misses far more often.
    assert (naive_hits / boards < 0.85).all(), naive_hits / boards


def test_score_means_cover_too() -> None:
    rng = np.random.default_rng(77)
    hits = 0
    for board in range(100):
        sums = _clustered_board(rng, np.array([0.3, 0.3]), prompts=30)
        result = answer_diagnostics(sums, replicas=300, seed=board)
        truth = np.array([3.0, 4.0])
        hits += int(
            ((result.score_lower[:, 0] <= truth) & (truth <= result.score_upper[:, 0])).sum()
        )
    assert 0.89 <= hits / 200 <= 0.99


def test_strengths_and_weaknesses_are_marked_only_where_the_interval_excludes_zero() -> None:
    rng = np.random.default_rng(1)
    models = np.array([1, 2, 3, 4])
    overall = np.array([1100.0, 1000.0, 950.0, 950.0])
    overall_draws = overall + rng.normal(0, 10, (500, 4))
    # Model 1 is much better in the category than overall, model 2 much worse; 3 and 4 as usual
    # but model 4's category Elo is very uncertain.
    category = np.array([1250.0, 850.0, 950.0, 950.0])
    noise = np.array([10.0, 10.0, 10.0, 200.0])
    category_draws = category + rng.normal(0, 1, (500, 4)) * noise
    result = standing_differences(
        overall_models=models,
        overall_elo=overall,
        overall_replicas=overall_draws,
        category_models=models,
        category_elo=category,
        category_replicas=category_draws,
    )
    assert result.models.tolist() == [1, 2, 3, 4]
    assert result.mark.tolist()[:2] == [1, -1]
    assert result.mark[3] == 0 and result.lower[3] < 0 < result.upper[3]
    # A shift of a whole board (another anchor) changes nothing: standings are centred.
    shifted = standing_differences(
        overall_models=models,
        overall_elo=overall + 300,
        overall_replicas=overall_draws + 300,
        category_models=models,
        category_elo=category,
        category_replicas=category_draws,
    )
    np.testing.assert_allclose(shifted.difference, result.difference)
    # Whatever the data: a mark exactly when the interval excludes zero, of the right sign.
    for seed in range(30):
        draw = np.random.default_rng(seed)
        elo_o, elo_c = draw.normal(1000, 60, 5), draw.normal(1000, 60, 5)
        got = standing_differences(
            overall_models=np.arange(5),
            overall_elo=elo_o,
            overall_replicas=elo_o + draw.normal(0, 30, (200, 5)),
            category_models=np.arange(5),
            category_elo=elo_c,
            category_replicas=elo_c + draw.normal(0, 30, (200, 5)),
        )
        expected = np.where(got.lower > 0, 1, np.where(got.upper < 0, -1, 0))
        np.testing.assert_array_equal(got.mark, expected)


def test_only_models_ranked_on_both_boards_are_compared() -> None:
    result = standing_differences(
        overall_models=np.array([1, 2, 3]),
        overall_elo=np.array([1000.0, 1010.0, 990.0]),
        overall_replicas=np.tile([1000.0, 1010.0, 990.0], (10, 1)),
        category_models=np.array([2, 3, 9]),
        category_elo=np.array([1000.0, 1000.0, 1000.0]),
        category_replicas=np.zeros((10, 3)) + 1000.0,
    )
    assert result.models.tolist() == [2, 3]
    lonely = standing_differences(
        overall_models=np.array([1, 2]),
        overall_elo=np.array([1000.0, 1010.0]),
        overall_replicas=np.zeros((10, 2)),
        category_models=np.array([2, 9]),
        category_elo=np.array([1000.0, 1000.0]),
        category_replicas=np.zeros((10, 2)),
    )
    assert len(lonely.models) == 1 and len(lonely.difference) == 0


def test_bad_input_is_refused_with_the_field_named() -> None:
    with pytest.raises(StatsInputError, match="tag counts"):
        sums_from([(1, 1, 2, [4.0], [2], [3])])
    with pytest.raises(StatsInputError, match="one row per"):
        sums_from([(1, 1, 2, [4.0], [2], [0]), (1, 1, 2, [4.0], [2], [0])])
    with pytest.raises(StatsInputError, match="replicas"):
        answer_diagnostics(sums_from([(1, 1, 2, [4.0], [2], [0])]), replicas=1, seed=0)


def test_the_nan_skipping_quantiles_match_numpy() -> None:
    import warnings

    from leaderboards.stats.diagnostics import _nan_quantiles

    rng = np.random.default_rng(3)
    draws = rng.normal(size=(101, 7))
    draws[rng.random(draws.shape) < 0.3] = np.nan
    draws[:, 6] = np.nan  # a column with nothing at all
    lower, upper = _nan_quantiles(draws, 0.025)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanquantile(draws, [0.025, 0.975], axis=0)
    np.testing.assert_allclose(lower, expected[0])
    np.testing.assert_allclose(upper, expected[1])


def test_missing_scores_keep_their_own_counts_in_the_replicas() -> None:
    # One model's scores are missing on some ratings: its replica means divide by the scores
    # given, not by the answers (the shortcut for complete scores must not apply to it).
    rows = [(p, 1, 2, [8.0], [2], [0]) for p in range(20)]
    rows += [(p, 2, 2, [5.0], [1], [1]) for p in range(20)]
    result = answer_diagnostics(sums_from(rows), replicas=50, seed=0)
    np.testing.assert_allclose(result.score_mean[:, 0], [4.0, 5.0])
    np.testing.assert_allclose(result.score_lower[:, 0], [4.0, 5.0])
    np.testing.assert_allclose(result.score_upper[:, 0], [4.0, 5.0])
