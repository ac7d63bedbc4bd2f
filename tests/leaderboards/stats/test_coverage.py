"""Coverage of the 95% intervals in dense, sparse and new-model boards (a small simulation).

Each scenario simulates boards with known strengths and counts how often the interval holds
the true Elo (centred like the estimate). Percentile and basic intervals come from the same
replicas. The seeds are fixed, so the numbers are exact repeats; the bounds leave room for
the binomial noise of the sample sizes (about +-1.3 points at 300 intervals) and still catch
the percentile interval's 87-88% for a new model. bench/bench_coverage.py runs more boards.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from leaderboards.stats import RankingConfig, rank_models
from leaderboards.stats.intervals import percentile_interval

from .simulate import dense_board, new_model_board, sparse_board, true_elo

Scenario = Callable[[np.random.Generator], tuple[pd.DataFrame, np.ndarray, list[int]]]


def coverage(scenario: Scenario, boards: int, *, seed: int) -> dict[str, float]:
    """Share of intervals holding the truth, per interval kind, over `boards` simulated boards."""
    rng = np.random.default_rng(seed)
    hits = {"basic": 0, "percentile": 0, "sandwich": 0}
    total = 0
    for number in range(boards):
        ratings, strengths, judged = scenario(rng)
        config = RankingConfig(
            replicas=200, seed=number, min_ratings=1, require_wins_and_losses=False
        )
        board = rank_models(ratings, config)
        sandwich = rank_models(
            ratings,
            RankingConfig(interval="sandwich", min_ratings=1, require_wins_and_losses=False),
        )
        ranked = [line.model for line in board.ranked]
        truth = dict(zip(ranked, true_elo(strengths[np.array(ranked)]), strict=True))
        assert board.elo_replicas is not None
        low, high = percentile_interval(board.elo_replicas, 0.95)
        for model in judged:
            if model not in truth:
                continue
            line, column = board.get(model), board.win_rate_models.index(model)
            cross = sandwich.get(model)
            hits["basic"] += int(line.lower <= truth[model] <= line.upper)
            hits["percentile"] += int(low[column] <= truth[model] <= high[column])
            hits["sandwich"] += int(cross.lower <= truth[model] <= cross.upper)
            total += 1
    return {kind: count / total for kind, count in hits.items()}


def test_a_new_model_with_15_ratings_is_covered_by_the_basic_interval() -> None:
    result = coverage(new_model_board, 300, seed=12)
    assert result["basic"] >= 0.93, result
    # The percentile interval, from the very same replicas, misses about one time in eight,
    # and so does the closed-form sandwich.
    assert result["percentile"] <= 0.91, result
    assert result["sandwich"] <= 0.91, result


@pytest.mark.parametrize(
    ("scenario", "boards"), [(dense_board, 40), (sparse_board, 100)], ids=["dense", "sparse"]
)
def test_dense_and_sparse_boards_are_covered_by_the_basic_interval(
    scenario: Scenario, boards: int
) -> None:
    result = coverage(scenario, boards, seed=5)
    # With about 36 ratings per model the basic interval errs on the safe side (97-98%).
    assert 0.93 <= result["basic"] <= 0.99, result
