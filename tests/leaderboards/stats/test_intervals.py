"""Bootstrap and sandwich intervals: reproducibility, correctness of replicas, coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leaderboards.stats import (
    Comparisons,
    RankingConfig,
    bootstrap_strengths,
    fit_bradley_terry,
    rank_models,
    to_elo,
)

from .simulate import simulate_ratings, true_elo


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    rng = np.random.default_rng(99)
    return simulate_ratings(
        rng, rng.normal(0, 0.6, 8), n_prompts=120, comparisons_per_prompt=5, shared=0.6
    )


def test_same_seed_same_numbers_different_seed_different_intervals(ratings: pd.DataFrame) -> None:
    first = rank_models(ratings, RankingConfig(replicas=200, seed=1))
    again = rank_models(ratings, RankingConfig(replicas=200, seed=1))
    other = rank_models(ratings, RankingConfig(replicas=200, seed=2))
    assert first.to_dict() == again.to_dict()
    assert first.elo_replicas is not None
    assert again.elo_replicas is not None
    assert np.array_equal(first.elo_replicas, again.elo_replicas)
    assert [line.elo for line in other.models] == [line.elo for line in first.models]
    assert [line.lower for line in other.models] != [line.lower for line in first.models]
    assert [line.upper for line in other.models] != [line.upper for line in first.models]


def test_chunking_does_not_change_the_replicas(ratings: pd.DataFrame) -> None:
    comparisons = Comparisons.from_ratings(ratings)
    fit = fit_bradley_terry(comparisons)
    whole = bootstrap_strengths(comparisons, fit, replicas=70, seed=5)
    # A tiny memory budget forces one replica per chunk.
    pieces = bootstrap_strengths(comparisons, fit, replicas=70, seed=5, memory_budget=1)
    np.testing.assert_allclose(pieces.beta, whole.beta, atol=1e-9)


@pytest.mark.parametrize(
    ("weighting", "user_weights"),
    [
        ("none", False),
        ("none", True),
        ("inverse_pair_frequency", False),
        ("inverse_pair_frequency", True),
    ],
)
def test_each_replica_equals_a_refit_on_physically_resampled_prompts(
    ratings: pd.DataFrame, weighting: str, user_weights: bool
) -> None:
    """The multinomial-weight shortcut must give what copying the drawn prompts would give.

    Documented draw order: replica r takes prompt codes (prompts in sorted order)
    Generator(seed).integers(0, n_prompts, size=(replicas, n_prompts), dtype=uint32)[r].
    Inverse-pair-frequency weights are recomputed inside each replica, as a refit would.
    """
    if user_weights:
        ratings = ratings.assign(weight=np.where(ratings["model_a"] % 2 == 0, 2.0, 0.5))
    comparisons = Comparisons.from_ratings(ratings)
    fit = fit_bradley_terry(comparisons, weighting=weighting)  # type: ignore[arg-type]
    draws = bootstrap_strengths(comparisons, fit, replicas=4, seed=42)
    prompts = np.sort(ratings["prompt"].unique())
    picked = np.random.default_rng(42).integers(
        0, len(prompts), size=(4, len(prompts)), dtype=np.uint32
    )
    by_prompt = dict(tuple(ratings.groupby("prompt")))
    for replica in range(4):
        copies = [
            by_prompt[prompts[code]].assign(prompt=copy)
            for copy, code in enumerate(picked[replica])
        ]
        refit = fit_bradley_terry(
            Comparisons.from_ratings(pd.concat(copies)),
            weighting=weighting,  # type: ignore[arg-type]
            tolerance=1e-10,
        )
        np.testing.assert_allclose(to_elo(draws.beta[replica]), refit.elo, atol=1e-3)
    assert np.ptp(draws.beta[:, 0]) > 0  # replicas differ from each other


def test_rating_replicas_equal_a_refit_on_resampled_single_ratings(ratings: pd.DataFrame) -> None:
    """Rating-level draws index the ratings in cell order (prompt, pair, outcome)."""
    comparisons = Comparisons.from_ratings(ratings)
    fit = fit_bradley_terry(comparisons)
    draws = bootstrap_strengths(comparisons, fit, replicas=3, seed=8, unit="rating")
    cell_of_rating = np.repeat(np.arange(len(comparisons.count)), comparisons.count)
    picked = np.random.default_rng(8).integers(
        0, len(cell_of_rating), size=(3, len(cell_of_rating)), dtype=np.uint32
    )
    for replica in range(3):
        cell = cell_of_rating[picked[replica]]
        resampled = pd.DataFrame(
            {
                "prompt": np.arange(len(cell)),
                "model_a": np.asarray(comparisons.models)[comparisons.model_i[cell]],
                "model_b": np.asarray(comparisons.models)[comparisons.model_j[cell]],
                "outcome": comparisons.outcome[cell],
            }
        )
        refit = fit_bradley_terry(Comparisons.from_ratings(resampled), tolerance=1e-10)
        np.testing.assert_allclose(to_elo(draws.beta[replica]), refit.elo, atol=1e-3)


def test_rating_resampling_option_resamples_single_ratings(ratings: pd.DataFrame) -> None:
    comparisons = Comparisons.from_ratings(ratings)
    fit = fit_bradley_terry(comparisons)
    by_rating = bootstrap_strengths(comparisons, fit, replicas=300, seed=1, unit="rating")
    by_prompt = bootstrap_strengths(comparisons, fit, replicas=300, seed=1, unit="prompt")
    # Three annotators often agree on a comparison here, so prompt-level spread is larger.
    assert (by_prompt.beta.std(axis=0) > by_rating.beta.std(axis=0)).mean() >= 0.75


def test_sandwich_and_bootstrap_agree_on_standard_errors() -> None:
    rng = np.random.default_rng(5)
    ratings = simulate_ratings(
        rng, rng.normal(0, 0.5, 6), n_prompts=400, comparisons_per_prompt=4, shared=0.5
    )
    boot = rank_models(ratings, RankingConfig(replicas=1000, seed=9))
    sandwich = rank_models(ratings, RankingConfig(interval="sandwich"))
    naive = rank_models(ratings, RankingConfig(interval="sandwich", resample="rating"))
    for model in range(6):
        se_boot = boot.get(model).standard_error
        se_sandwich = sandwich.get(model).standard_error
        se_naive = naive.get(model).standard_error
        assert se_boot is not None
        assert se_sandwich is not None
        assert se_naive is not None
        assert se_sandwich == pytest.approx(se_boot, rel=0.12)
        assert se_naive < 0.9 * se_sandwich
        line = sandwich.get(model)
        assert line.lower is not None
        assert line.upper is not None
        assert line.elo is not None
        assert line.upper - line.elo == pytest.approx(1.959964 * se_sandwich, rel=1e-5)


def coverage(boards: int, resample: str, interval: str = "bootstrap") -> float:
    """Share of 95% intervals that contain the true (identically centred) Elo."""
    rng = np.random.default_rng(20260)
    covered, total = 0, 0
    for board_number in range(boards):
        strengths = rng.normal(0, 0.5, 10)
        ratings = simulate_ratings(
            rng, strengths, n_prompts=200, comparisons_per_prompt=4, annotators=3, shared=0.6
        )
        config = RankingConfig(
            interval=interval,  # type: ignore[arg-type]
            resample=resample,  # type: ignore[arg-type]
            replicas=500,
            seed=board_number,
        )
        board = rank_models(ratings, config)
        truth = true_elo(strengths)
        for model in range(10):
            line = board.get(model)
            assert line.lower is not None
            assert line.upper is not None
            covered += int(line.lower <= truth[model] <= line.upper)
            total += 1
    return covered / total


def test_prompt_bootstrap_covers_95_percent_and_rating_bootstrap_does_not() -> None:
    """200 simulated leaderboards where the three ratings of a comparison often coincide."""
    prompt_level = coverage(200, "prompt")
    rating_level = coverage(200, "rating")
    assert 0.93 <= prompt_level <= 0.97, prompt_level
    assert rating_level < 0.90, rating_level


def test_prompt_clustered_sandwich_covers_95_percent() -> None:
    assert 0.93 <= coverage(200, "prompt", "sandwich") <= 0.97
