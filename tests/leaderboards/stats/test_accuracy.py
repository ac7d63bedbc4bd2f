"""Wilson intervals against published values; the cluster adjustment at its two extremes."""

from __future__ import annotations

import numpy as np
import pytest

from leaderboards.stats import StatsInputError, accuracy_interval, wilson_interval


@pytest.mark.parametrize(
    ("successes", "n", "lower", "upper"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (score).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe(successes: int, n: int, lower: float, upper: float) -> None:
    low, high = wilson_interval(successes, n)
    assert (round(low, 4), round(high, 4)) == (lower, upper)


def test_wilson_at_the_edges_and_other_levels() -> None:
    assert wilson_interval(20, 20)[1] == 1.0
    assert wilson_interval(0, 20)[0] == 0.0
    narrow = wilson_interval(81, 263, confidence=0.8)
    wide = wilson_interval(81, 263, confidence=0.99)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


def test_accuracy_without_clusters_is_plain_wilson() -> None:
    grades = [True] * 81 + [False] * 182
    result = accuracy_interval(grades)
    assert (result.accuracy, result.n, result.correct) == (81 / 263, 263, 81)
    assert (result.lower, result.upper) == wilson_interval(81, 263)
    assert result.method == "wilson"
    assert result.n_clusters is None


def test_singleton_clusters_change_nothing() -> None:
    grades = np.r_[np.ones(30), np.zeros(70)]
    clustered = accuracy_interval(grades, clusters=np.arange(100))
    assert clustered.effective_n == pytest.approx(100.0)
    assert clustered.lower == pytest.approx(accuracy_interval(grades).lower)


def test_perfectly_correlated_clusters_count_as_one_answer_each() -> None:
    # 40 prompts answered 5 times each, every prompt's 5 answers identical.
    per_prompt = np.r_[np.ones(12), np.zeros(28)]
    grades = np.repeat(per_prompt, 5)
    result = accuracy_interval(grades, clusters=np.repeat(np.arange(40), 5))
    assert result.method == "wilson_clustered"
    assert result.n_clusters == 40
    # Design effect (n - 1) / (G - 1): the effective size is about the number of prompts.
    assert result.effective_n == pytest.approx(200 * 39 / 199)
    expected = wilson_interval(0.3 * result.effective_n, result.effective_n)
    assert (result.lower, result.upper) == pytest.approx(expected)
    plain = accuracy_interval(grades)
    assert result.upper - result.lower > 1.8 * (plain.upper - plain.lower)


def test_accuracy_input_errors() -> None:
    with pytest.raises(StatsInputError, match="only 0/1"):
        accuracy_interval([1, 0, 2])
    with pytest.raises(StatsInputError, match="non-empty"):
        accuracy_interval([])
    with pytest.raises(StatsInputError, match="clusters has 2 entries"):
        accuracy_interval([1, 0, 1], clusters=[1, 2])
    with pytest.raises(StatsInputError, match="successes must lie between"):
        wilson_interval(5, 4)
    with pytest.raises(StatsInputError, match="n must be positive"):
        wilson_interval(0, 0)
