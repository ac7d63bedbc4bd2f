"""The pure pair selection: capacity and limit respected, information goes where it is unsure."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from leaderboards.stats import StatsInputError
from leaderboards.stats.scheduling import (
    BoardLine,
    SelectionConfig,
    _expected_information,
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


def exact_record(n: int, beta: np.ndarray, pairs: dict[tuple[int, int], float]):
    """Per-pair totals whose wins are exactly what `beta` predicts (the MAP is `beta`)."""
    i = np.array([a for a, _ in pairs])
    j = np.array([b for _, b in pairs])
    total = np.array(list(pairs.values()))
    p = 1 / (1 + np.exp(-(beta[i] - beta[j])))
    return pair_record(n_models=n, pair_i=i, pair_j=j, points_i=total * p, ratings=total)


def test_the_selection_prefers_a_close_well_measured_opponent():
    # 0 and 1 sit at the newcomer's estimate (0 well measured, 1 barely); ten more are spread
    # over -2..2 and well measured. The newcomer (12) has met only those ten.
    n = 13
    beta = np.concatenate([[0.0, 0.05], np.linspace(-2.0, 2.0, 10), [0.0]])
    spread = range(2, 12)
    pairs = {(0, b): 400.0 for b in spread}
    pairs |= {(a, b): 400.0 for a in spread for b in spread if a < b}
    pairs |= {(1, b): 6.0 for b in spread}
    pairs |= {(b, 12): 6.0 for b in spread}
    record = exact_record(n, beta, pairs)
    targets = np.zeros(n, dtype=bool)
    targets[12] = True
    ci, cj = np.triu_indices(n, 1)
    selection = comparisons_select(
        n_models=n,
        record=record,
        targets=targets,
        candidate_i=ci,
        candidate_j=cj,
        candidate_capacity=np.full(len(ci), 1000),
        limit=12,
        config=SelectionConfig(neighbour_weight=0.0),
    )
    opponents = np.where(selection.pair_i == 12, selection.pair_j, selection.pair_i).tolist()
    assert len(opponents) == 12
    # The newcomer's interval is what counts: the close, well-measured opponent gets most (the
    # barely measured one a little, as it also pins the board's mean); the far ones nothing.
    assert opponents.count(0) > 2 * opponents.count(1)
    assert all(abs(beta[m]) < 0.5 for m in opponents)


def test_information_is_averaged_over_an_unsure_strength_gap():
    gap = np.array([0.0, 3.0])
    sure = _expected_information(gap, 0.0)
    p = 1 / (1 + np.exp(-gap))
    assert sure == pytest.approx(p * (1 - p))
    unsure = _expected_information(gap, 4.0)
    # A coin-flip pair is credited less while the gap is unsure, a lopsided one more.
    assert unsure[0] < sure[0]
    assert unsure[1] > sure[1]


def test_an_unsure_newcomer_is_tried_against_a_wider_spread_of_opponents():
    # Nine established models 0.5 apart; the newcomer has two ratings, one win and one loss
    # against the middle one. At the point estimate only its near neighbours look worth it.
    n = 10
    beta = np.append(np.linspace(-2.0, 2.0, 9), 0.0)
    i, j = np.triu_indices(9, 1)
    pairs = {(int(a), int(b)): 60.0 for a, b in zip(i, j, strict=True)}
    pairs[(4, 9)] = 2.0
    record = exact_record(n, beta, pairs)
    targets = np.zeros(n, dtype=bool)
    targets[9] = True
    ci, cj = np.triu_indices(n, 1)

    def spread(expected: bool) -> float:
        selection = comparisons_select(
            n_models=n,
            record=record,
            targets=targets,
            candidate_i=ci,
            candidate_j=cj,
            candidate_capacity=np.full(len(ci), 1000),
            limit=10,
            config=SelectionConfig(neighbour_weight=0.0, expected_information=expected),
        )
        opponents = np.where(selection.pair_i == 9, selection.pair_j, selection.pair_i)
        return float(np.mean(np.abs(beta[opponents] - beta[9])))

    assert spread(expected=True) > spread(expected=False)
