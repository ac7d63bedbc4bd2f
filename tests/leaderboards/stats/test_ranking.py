"""The leaderboard: ranks, uncertainty ranks, separability, exclusions, matrices, JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from leaderboards.stats import (
    Comparisons,
    InsufficientDataError,
    RankingConfig,
    StatsInputError,
    preference_to_outcome,
    rank_models,
)

from .simulate import simulate_ratings
from .test_bradley_terry import frame, triangle


@pytest.fixture(scope="module")
def four_models() -> pd.DataFrame:
    rng = np.random.default_rng(31)
    # Two near-equal leaders, then two clearly weaker models.
    return simulate_ratings(
        rng, np.array([2.0, 1.95, 0.0, -2.0]), n_prompts=300, comparisons_per_prompt=4
    )


def test_ranks_uncertainty_ranks_and_separability(four_models: pd.DataFrame) -> None:
    board = rank_models(four_models, RankingConfig(interval="sandwich"))
    lines = board.models
    assert [line.model for line in lines[2:]] == [2, 3]
    assert {lines[0].model, lines[1].model} == {0, 1}
    assert [line.rank for line in lines] == [1, 2, 3, 4]
    # The two leaders overlap, so neither is wholly above the other.
    assert [line.rank_with_uncertainty for line in lines] == [1, 1, 3, 4]
    for line in lines:
        assert line.upper is not None
        above = sum(o.lower is not None and o.lower > line.upper for o in lines if o is not line)
        assert line.rank_with_uncertainty == 1 + above
    # Of the 6 pairs only the leaders' intervals overlap.
    assert board.separability == pytest.approx(5 / 6)


def test_elo_is_centred_on_1000_over_ranked_models(four_models: pd.DataFrame) -> None:
    board = rank_models(four_models, RankingConfig(replicas=100))
    assert np.mean([line.elo for line in board.models]) == pytest.approx(1000.0, abs=1e-9)
    for line in board.models:
        assert line.lower is not None
        assert line.upper is not None
        assert line.elo is not None
        assert line.lower < line.elo < line.upper


def test_win_rate_matrices_and_tallies_on_the_hand_case() -> None:
    # A never lost here: rank it anyway, under a negligible prior, to check the arithmetic.
    config = RankingConfig(
        interval="sandwich", min_ratings=1, require_wins_and_losses=False, prior_sd=1e5
    )
    board = rank_models(triangle(), config)
    assert board.win_rate_models == ("A", "B", "C")
    expected = np.array([[np.nan, 2 / 3, 4 / 5], [1 / 3, np.nan, 2 / 3], [1 / 5, 1 / 3, np.nan]])
    np.testing.assert_allclose(board.empirical_win_rate, expected, atol=1e-12)
    # The BT fit reproduces these shares exactly (see the hand derivation), up to the ridge.
    np.testing.assert_allclose(board.predicted_win_rate, expected, atol=1e-3)
    a = board.get("A")
    assert (a.n_ratings, a.wins, a.ties, a.losses) == (8, 4, 4, 0)
    c = board.get("C")
    assert (c.n_ratings, c.wins, c.ties, c.losses) == (8, 1, 2, 5)
    assert board.to_dict()["win_rates"]["empirical"][0][0] is None


def test_to_dict_is_strict_json_and_config_reproduces_the_board(four_models: pd.DataFrame) -> None:
    config = RankingConfig(replicas=120, seed=17, weighting="inverse_pair_frequency")
    board = rank_models(four_models, config, models=[0, 1, 2, 3, "never-rated"])
    text = json.dumps(board.to_dict(), allow_nan=False)
    stored = json.loads(text)
    assert stored["config"] == {
        "interval": "bootstrap",
        "bootstrap_interval": "basic",
        "replicas": 120,
        "seed": 17,
        "resample": "prompt",
        "weighting": "inverse_pair_frequency",
        "prior_sd": 500.0,
        "min_ratings": 20,
        "require_wins_and_losses": True,
        "confidence": 0.95,
        "tolerance": 1e-6,
        "max_iterations": 100,
    }
    assert stored["versions"]["numpy"] == np.__version__
    assert stored["models"][-1]["model"] == "never-rated"
    assert stored["models"][-1]["rank"] is None
    assert stored["models"][-1]["not_ranked_reason"] == "no ratings yet"
    assert stored["anchor"] == {"shift": 0.0, "models": [], "reference_mean": None}
    rebuilt = RankingConfig.from_dict(stored["config"])
    again = rank_models(four_models, rebuilt, models=[0, 1, 2, 3, "never-rated"])
    assert json.dumps(again.to_dict(), allow_nan=False) == text


def test_models_below_min_ratings_are_listed_but_not_ranked(four_models: pd.DataFrame) -> None:
    rare = pd.DataFrame(
        {"prompt": [0, 1, 2], "model_a": ["rare"] * 3, "model_b": [0, 2, 3], "outcome": [1, 0.5, 0]}
    )
    board = rank_models(
        pd.concat([four_models, rare]), RankingConfig(interval="sandwich", min_ratings=4)
    )
    line = board.get("rare")
    assert (line.rank, line.elo, line.lower, line.rank_with_uncertainty) == (None, None, None, None)
    assert (line.n_ratings, line.wins, line.ties, line.losses) == (3, 1, 1, 1)
    assert line.not_ranked_reason == "3 ratings; needs 4"
    assert board.models[-1].model == "rare"
    assert "rare" not in board.win_rate_models
    # Excluded from the fit: the others get exactly the numbers they get without its ratings.
    without = rank_models(four_models, RankingConfig(interval="sandwich", min_ratings=4))
    for model in range(4):
        assert board.get(model).elo == pytest.approx(without.get(model).elo, abs=1e-9)
    assert board.n_ratings == len(four_models) + 3
    assert board.n_ratings_used == len(four_models)
    # With a lower minimum it is ranked.
    lower = RankingConfig(replicas=50, min_ratings=3)
    assert rank_models(pd.concat([four_models, rare]), lower).get("rare").rank


def test_exclusion_that_splits_the_graph_ranks_the_largest_group() -> None:
    rows = []
    for prompt in range(6):
        for a, b in (("A", "B"), ("B", "C"), ("A", "C"), ("D", "E")):
            rows += [(prompt, a, b, 1.0), (prompt, b, a, 0.5)]
    # X is the only bridge between the groups and has two ratings.
    rows += [(0, "X", "A", 1.0), (1, "X", "D", 0.0)]
    ratings = frame(rows)
    # In this hand case A never loses and C never wins; only the other rules are under test.
    config = RankingConfig(replicas=20, min_ratings=2, require_wins_and_losses=False)
    assert rank_models(ratings, config).get("X").ranked
    stricter = RankingConfig(replicas=20, min_ratings=3, require_wins_and_losses=False)
    board = rank_models(ratings, stricter)
    assert {line.model for line in board.ranked} == {"A", "B", "C"}
    assert board.get("X").not_ranked_reason == "2 ratings; needs 3"
    assert board.get("D").not_ranked_reason == "not connected to the main group"
    assert board.get("E").not_ranked_reason == "not connected to the main group"


def test_iterated_exclusion_drops_models_that_fall_below_the_minimum() -> None:
    rows = [(p, "A", "B", 1.0) for p in range(5)] + [(p, "B", "A", 1.0) for p in range(5)]
    # Y has 2 ratings, both against Z; Z has 4 (2 against Y, 2 against A) and qualifies on
    # its own count, but once Y is dropped only 2 remain.
    rows += [(p, "Y", "Z", 1.0) for p in range(2)] + [(p, "Z", "A", 0.5) for p in range(2)]
    board = rank_models(frame(rows), RankingConfig(interval="sandwich", min_ratings=3))
    assert [line.model for line in board.ranked] in (["A", "B"], ["B", "A"])
    assert board.get("Z").rank is None
    assert board.get("Y").rank is None
    assert board.get("Z").n_ratings == 4


def test_too_few_qualifying_models() -> None:
    ratings = frame([(1, "A", "B", 1.0), (2, "A", "C", 0.0)])
    with pytest.raises(InsufficientDataError, match="0 of 3 models"):
        rank_models(ratings, RankingConfig(min_ratings=2))


def test_counts_fast_path_equals_raw_ratings(four_models: pd.DataFrame) -> None:
    weights = np.where(four_models["prompt"] % 2 == 0, 1.0, 0.5)
    raw = four_models.assign(weight=weights)
    grouped = (
        raw.assign(wins_a=raw.outcome == 1.0, ties=raw.outcome == 0.5, wins_b=raw.outcome == 0.0)
        .groupby(["prompt", "model_a", "model_b", "weight"], as_index=False)[
            ["wins_a", "ties", "wins_b"]
        ]
        .sum()
    )
    assert len(grouped) < len(raw)
    # A prompt whose only row has zero counts is no bootstrap unit.
    empty = {"prompt": 10_000, "model_a": 0, "model_b": 1, "weight": 1.0}
    grouped = pd.concat([grouped, pd.DataFrame([{**empty, "wins_a": 0, "ties": 0, "wins_b": 0}])])
    assert Comparisons.from_counts(grouped).n_prompts == raw.prompt.nunique()
    config = RankingConfig(replicas=100, seed=4)
    from_counts = rank_models(Comparisons.from_counts(grouped), config)
    from_raw = rank_models(raw, config)
    assert from_counts.to_dict() == from_raw.to_dict()


def test_bootstrap_runs_for_every_weighting_and_resample_unit(four_models: pd.DataFrame) -> None:
    for weighting in ("none", "inverse_pair_frequency"):
        for resample in ("prompt", "rating"):
            config = RankingConfig(
                replicas=60,
                weighting=weighting,
                resample=resample,
            )
            board = rank_models(four_models, config)
            assert board.diagnostics.replicas_not_converged == 0
            assert all(
                line.standard_error is not None and 0 < line.standard_error < 100
                for line in board.models
            )
            assert board.elo_replicas is not None
            assert board.elo_replicas.shape == (60, 4)
            assert math.isclose(board.elo_replicas.mean(axis=1).mean(), 1000.0)


def test_preference_scale_maps_to_outcomes() -> None:
    outcome = preference_to_outcome([2, 1, 0, -1, -2])
    np.testing.assert_array_equal(outcome, [1.0, 1.0, 0.5, 0.0, 0.0])
    with pytest.raises(StatsInputError, match="preference must be one of"):
        preference_to_outcome([3])


def test_unrated_models_can_be_listed_with_prepared_comparisons() -> None:
    comparisons = Comparisons.from_ratings(triangle())
    config = RankingConfig(replicas=20, min_ratings=1, require_wins_and_losses=False)
    board = rank_models(comparisons, config, models=["D", "A"])
    assert [line.model for line in board.models][-1] == "D"
    assert board.get("D").n_ratings == 0
    assert board.get("D").rank is None
    table = board.to_frame()
    assert list(table["model"]) == [line.model for line in board.models]
    assert table.loc[table.model == "A", "rank"].item() == 1
