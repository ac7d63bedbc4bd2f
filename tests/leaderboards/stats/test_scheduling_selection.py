"""The pure pair selection: capacity and limit respected, information goes where it is unsure."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from leaderboards.stats import StatsInputError
from leaderboards.stats.scheduling import (
    BoardLine,
    SelectionConfig,
    comparisons_select,
    pair_record,
    ratings_needed,
    stopping_reason,
)


def board_history(n: int, per_pair: int = 12, seed: int = 0, newcomer: bool = True):
    rng = np.random.default_rng(seed)
    beta = np.linspace(-1.5, 1.5, n)
    # With a newcomer, the last model is never rated.
    i, j = np.triu_indices(n - 1 if newcomer else n, 1)
    p = 1 / (1 + np.exp(-(beta[i] - beta[j])))
    return pair_record(
        n_models=n,
        pair_i=i,
        pair_j=j,
        points_i=rng.binomial(per_pair, p).astype(float),
        ratings=np.full(len(i), float(per_pair)),
    )


def test_picks_respect_the_limit_and_each_pairs_capacity():
    n = 8
    record = board_history(n)
    targets = np.zeros(n, dtype=bool)
    targets[-1] = True
    ci, cj = np.triu_indices(n, 1)
    capacity = np.full(len(ci), 2)
    selection = comparisons_select(
        n_models=n,
        record=record,
        targets=targets,
        candidate_i=ci,
        candidate_j=cj,
        candidate_capacity=capacity,
        limit=10,
    )
    assert len(selection) == 10
    counts: dict[tuple[int, int], int] = {}
    for a, b in zip(selection.pair_i, selection.pair_j, strict=True):
        counts[(int(a), int(b))] = counts.get((int(a), int(b)), 0) + 1
    assert max(counts.values()) <= 2
    # All the information goes to the new model: it is the only thing under evaluation.
    assert all(n - 1 in pair for pair in counts)
    zero = comparisons_select(
        n_models=n,
        record=record,
        targets=targets,
        candidate_i=ci,
        candidate_j=cj,
        candidate_capacity=np.zeros(len(ci), dtype=np.int64),
        limit=10,
    )
    assert len(zero) == 0


def test_a_precise_enough_model_gets_nothing_more():
    n = 5
    record = board_history(n, per_pair=400, newcomer=False)
    targets = np.zeros(n, dtype=bool)
    targets[0] = True  # well measured already
    ci, cj = np.triu_indices(n, 1)
    selection = comparisons_select(
        n_models=n,
        record=record,
        targets=targets,
        candidate_i=ci,
        candidate_j=cj,
        candidate_capacity=np.full(len(ci), 100),
        limit=50,
        config=SelectionConfig(target_half_width=200.0),
    )
    assert len(selection) == 0


def test_scheduled_work_counts_as_information_to_come():
    n = 6
    base = board_history(n)
    targets = np.zeros(n, dtype=bool)
    targets[-1] = True
    ci, cj = np.triu_indices(n, 1)
    select = functools.partial(
        comparisons_select,
        n_models=n,
        targets=targets,
        candidate_i=ci,
        candidate_j=cj,
        candidate_capacity=np.full(len(ci), 1000),
        limit=400,
        # Precision only: the neighbour contrasts would keep asking down to `resolution`.
        config=SelectionConfig(neighbour_weight=0.0),
    )
    free = select(record=base)
    pending = pair_record(
        n_models=n,
        pair_i=np.concatenate([base.pair_i, np.arange(n - 1)]),
        pair_j=np.concatenate([base.pair_j, np.full(n - 1, n - 1)]),
        points_i=np.concatenate([base.points_i, np.zeros(n - 1)]),
        ratings=np.concatenate([base.ratings, np.zeros(n - 1)]),
        pending=np.concatenate([np.zeros(len(base.pair_i)), np.full(n - 1, 300.0)]),
    )
    after = select(record=pending)
    assert len(after) < len(free)


def test_pair_record_refuses_bad_input_and_folds_reversed_pairs():
    with pytest.raises(StatsInputError, match="two different models"):
        pair_record(n_models=3, pair_i=[1], pair_j=[1], points_i=[0.0], ratings=[1.0])
    with pytest.raises(StatsInputError, match=r"0\.\.n_models-1"):
        pair_record(n_models=3, pair_i=[0], pair_j=[3], points_i=[0.0], ratings=[1.0])
    record = pair_record(
        n_models=3, pair_i=[0, 1], pair_j=[1, 0], points_i=[2.0, 1.0], ratings=[3.0, 3.0]
    )
    assert record.pair_i.tolist() == [0] and record.ratings.tolist() == [6.0]
    assert record.points_i.tolist() == [4.0]


def test_stopping_rule_precision_settled_or_not():
    lines = [
        BoardLine(model=1, elo=1100, lower=1080, upper=1120),
        BoardLine(model=2, elo=1000, lower=950, upper=1050),
        BoardLine(model=3, elo=900, lower=880, upper=920),
    ]
    assert stopping_reason(model=1, board=lines, target_half_width=20) == "precision"
    assert stopping_reason(model=2, board=lines, target_half_width=20) == "settled"
    overlapping = [*lines[:2], BoardLine(model=3, elo=960, lower=940, upper=1000)]
    assert stopping_reason(model=2, board=overlapping, target_half_width=20) is None
    assert stopping_reason(model=9, board=lines, target_half_width=20) is None
    assert ratings_needed(half_width=40, target_half_width=20, ratings_done=100) == 300
    assert ratings_needed(half_width=10, target_half_width=20, ratings_done=100) == 0
