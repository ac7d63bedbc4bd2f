"""The point fit: hand-derived MLE, invariances, an independent reference fit, recovery."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression

from leaderboards.stats import (
    ELO_SCALE,
    Comparisons,
    RankingConfig,
    fit_bradley_terry,
    rank_models,
)
from leaderboards.stats.bradley_terry import PairDesign, solve_bradley_terry

from .simulate import simulate_ratings, true_elo


def frame(rows: Sequence[tuple[object, object, object, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["prompt", "model_a", "model_b", "outcome"])


def triangle() -> pd.DataFrame:
    """Three models, every pair compared, ties included.

    A vs B: A wins 1, ties 2 -> A scores 2 of 3.   B vs C: B wins 2, C wins 1 -> 2 of 3.
    A vs C: A wins 3, ties 2 -> A scores 4 of 5.
    """
    rows = [("p1", "A", "B", 1.0), ("p2", "A", "B", 0.5), ("p3", "B", "A", 0.5)]
    rows += [("p1", "B", "C", 1.0), ("p2", "C", "B", 0.0), ("p3", "B", "C", 0.0)]
    rows += [("p1", "A", "C", 1.0), ("p2", "C", "A", 0.0), ("p3", "A", "C", 1.0)]
    rows += [("p4", "A", "C", 0.5), ("p5", "C", "A", 0.5)]
    return frame(rows)


def test_three_models_match_the_hand_derived_mle() -> None:
    """Hand derivation.

    With ties as half a win, the log-likelihood is sum over pairs of
    s_ij log p_ij + (n_ij - s_ij) log(1 - p_ij), p_ij = 1 / (1 + exp(b_j - b_i)), and the
    score equation of model i is sum_j n_ij (s_ij / n_ij - p_ij) = 0. If strengths exist with
    p_ij equal to every observed share, all score equations hold, and by strict concavity that
    point is the MLE. Shares: A-B 2/3, B-C 2/3, A-C 4/5. Bradley-Terry with pi = exp(b) =
    (4, 2, 1) gives 4/6 = 2/3, 2/3 and 4/5: it fits exactly. So b = ln(4, 2, 1) up to a shift;
    centred, b_A = ln 4 - ln 8 / 3, and Elo = 1000 + 400 log10(pi / 2), i.e. A = 1000 + 400
    log10 2 = 1120.412, B = 1000, C = 879.588.
    """
    fit = fit_bradley_terry(Comparisons.from_ratings(triangle()), ridge=1e-12, tolerance=1e-12)
    elo = dict(zip(fit.models, fit.elo, strict=True))
    assert elo["A"] == pytest.approx(1000 + 400 * math.log10(2), abs=1e-6)
    assert elo["B"] == pytest.approx(1000.0, abs=1e-6)
    assert elo["C"] == pytest.approx(1000 - 400 * math.log10(2), abs=1e-6)
    assert fit.beta == pytest.approx(np.log([4, 2, 1]) - np.log(8) / 3, abs=1e-9)


def test_default_ridge_is_tiny_on_the_hand_case() -> None:
    fit = fit_bradley_terry(Comparisons.from_ratings(triangle()))
    assert fit.elo[0] - fit.elo[1] == pytest.approx(400 * math.log10(2), abs=0.05)
    assert fit.elo[0] - fit.elo[1] < 400 * math.log10(2)  # shrunk towards zero, not away


def test_undefeated_model_stays_finite_because_of_the_ridge() -> None:
    rows = [("p", "champ", other, 1.0) for other in ("x", "y") for _ in range(10)]
    rows += [("p", "x", "y", 1.0), ("q", "x", "y", 0.0), ("r", "y", "x", 0.5)]
    data = Comparisons.from_ratings(frame(rows))
    gaps = []
    for ridge in (1e-2, 1e-4, 1e-6):
        fit = fit_bradley_terry(data, ridge=ridge)
        assert np.isfinite(fit.elo).all()
        gaps.append(fit.elo[0] - fit.elo[1:].max())
    # The MLE without ridge is infinite: a smaller ridge lets the champion climb further.
    assert gaps[0] < gaps[1] < gaps[2]


def test_swapping_sides_with_one_minus_outcome_changes_nothing() -> None:
    rng = np.random.default_rng(11)
    ratings = simulate_ratings(
        rng, rng.normal(0, 0.7, 6), n_prompts=40, comparisons_per_prompt=5, shared=0.5
    )
    flip = rng.random(len(ratings)) < 0.5
    swapped = ratings.copy()
    swapped.loc[flip, "model_a"] = ratings.loc[flip, "model_b"]
    swapped.loc[flip, "model_b"] = ratings.loc[flip, "model_a"]
    swapped.loc[flip, "outcome"] = 1.0 - ratings.loc[flip, "outcome"]
    assert not swapped.equals(ratings)
    config = RankingConfig(replicas=50, seed=3)
    original = rank_models(ratings, config).to_dict()
    assert rank_models(swapped, config).to_dict() == original
    # Row order is not part of the data either: the bootstrap draws do not depend on it.
    shuffled = swapped.sample(frac=1.0, random_state=5)
    assert rank_models(shuffled, config).to_dict() == original


def reference_elo(ratings: pd.DataFrame, models: list[int], weight: np.ndarray) -> np.ndarray:
    """Unpenalised logistic regression on expanded rows: a tie is half a win and half a loss."""
    index = {model: k for k, model in enumerate(models)}
    a = ratings["model_a"].map(index).to_numpy()
    b = ratings["model_b"].map(index).to_numpy()
    n = len(ratings)
    design = np.zeros((n, len(models)))
    design[np.arange(n), a] = 1.0
    design[np.arange(n), b] = -1.0
    outcome = ratings["outcome"].to_numpy()
    features = np.vstack([design, design])
    labels = np.r_[np.ones(n), np.zeros(n)]
    sample_weight = np.r_[outcome * weight, (1.0 - outcome) * weight]
    keep = sample_weight > 0
    model = LogisticRegression(C=np.inf, fit_intercept=False, tol=1e-12, max_iter=10_000)
    model.fit(features[keep], labels[keep], sample_weight=sample_weight[keep])
    beta = model.coef_[0]
    return 1000.0 + ELO_SCALE * (beta - beta.mean())


@pytest.mark.parametrize("weighting", ["none", "inverse_pair_frequency"])
def test_agrees_with_an_independent_logistic_regression(weighting: str) -> None:
    rng = np.random.default_rng(2024)
    strengths = rng.normal(0, 0.8, 7)
    ratings = simulate_ratings(rng, strengths, n_prompts=150, comparisons_per_prompt=4)
    # Make pair frequencies uneven so the weighting matters.
    ratings = pd.concat([ratings, ratings[(ratings.model_a + ratings.model_b) % 3 == 0]])
    models = sorted(set(ratings.model_a) | set(ratings.model_b))
    if weighting == "none":
        weight = np.ones(len(ratings))
    else:
        pair = pd.Series(
            np.minimum(ratings.model_a, ratings.model_b) * 100
            + np.maximum(ratings.model_a, ratings.model_b)
        )
        per_pair = pair.map(pair.value_counts()).to_numpy()
        weight = 1.0 / per_pair
    expected = reference_elo(ratings, models, weight)
    fit = fit_bradley_terry(Comparisons.from_ratings(ratings), weighting=weighting)  # type: ignore[arg-type]
    assert list(fit.models) == models
    np.testing.assert_allclose(fit.elo, expected, atol=0.01)
    if weighting == "inverse_pair_frequency":
        unweighted = fit_bradley_terry(Comparisons.from_ratings(ratings))
        assert np.abs(unweighted.elo - fit.elo).max() > 0.5  # the weighting did something


def test_user_weights_match_the_reference_with_the_same_weights() -> None:
    rng = np.random.default_rng(8)
    ratings = simulate_ratings(rng, rng.normal(0, 0.5, 5), n_prompts=80, comparisons_per_prompt=4)
    weight = rng.uniform(0.2, 3.0, len(ratings))
    fit = fit_bradley_terry(Comparisons.from_ratings(ratings.assign(weight=weight)))
    np.testing.assert_allclose(fit.elo, reference_elo(ratings, list(range(5)), weight), atol=0.01)


def test_recovers_true_order_of_twenty_models_from_fifty_thousand_ratings() -> None:
    rng = np.random.default_rng(20)
    strengths = rng.normal(0, 1.0, 20)
    ratings = simulate_ratings(
        rng, strengths, n_prompts=1000, comparisons_per_prompt=17, annotators=3, shared=0.5
    ).iloc[:50_000]
    assert len(ratings) == 50_000
    board = rank_models(ratings, RankingConfig(interval="sandwich"))
    estimated = np.array([board.get(model).elo for model in range(20)])
    assert spearmanr(estimated, strengths).statistic >= 0.98
    assert np.abs(estimated - true_elo(strengths)).max() < 60


def test_batched_solver_solves_each_problem_as_if_alone() -> None:
    rng = np.random.default_rng(4)
    m = 6
    pair_i, pair_j = np.triu_indices(m, 1)
    design = PairDesign(n_models=m, pair_i=pair_i.astype(np.int64), pair_j=pair_j.astype(np.int64))
    totals = rng.integers(0, 30, size=(5, len(pair_i))).astype(float)
    wins = rng.uniform(0, 1, size=totals.shape) * totals
    scores = design.to_second(totals) + design.signed(wins)
    together = solve_bradley_terry(totals, scores, design, ridge=1e-4, start=np.zeros(m))
    for row in range(5):
        alone = solve_bradley_terry(
            totals[row : row + 1], scores[row : row + 1], design, ridge=1e-4, start=np.zeros(m)
        )
        np.testing.assert_allclose(together.beta[row], alone.beta[0], atol=1e-9)
    assert together.converged.all()
    # The five problems have different data, so the batch did not collapse them.
    assert np.ptp(together.beta[:, 0]) > 0.01
