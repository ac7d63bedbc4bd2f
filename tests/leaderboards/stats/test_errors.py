"""Every kind of bad input is refused with a StatsInputError that names the problem."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from leaderboards.stats import (
    Comparisons,
    DisconnectedComparisonGraphError,
    RankingConfig,
    StatsInputError,
    fit_bradley_terry,
    rank_models,
)


def good() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prompt": [1, 1, 2, 2, 3],
            "model_a": ["a", "b", "c", "a", "b"],
            "model_b": ["b", "c", "a", "c", "a"],
            "outcome": [1.0, 0.5, 0.0, 1.0, 0.5],
        }
    )


def test_the_good_frame_is_accepted() -> None:
    config = RankingConfig(replicas=10, min_ratings=1, require_wins_and_losses=False)
    assert len(rank_models(good(), config).ranked) == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.iloc[0:0], "empty"),
        (lambda f: f.drop(columns=["outcome"]), r"missing columns \['outcome'\]"),
        (
            lambda f: f.drop(columns=["prompt", "model_b"]),
            r"missing columns \['prompt', 'model_b'\]",
        ),
        (lambda f: f.assign(model_b=["b", "b", "a", "c", "a"]), "compare a model with itself"),
        (
            lambda f: f.assign(outcome=[1.0, 0.5, 0.0, 2.0, 0.5]),
            r"outcome must be 1.*e\.g\. \[2\.0\]",
        ),
        (lambda f: f.assign(outcome=[1.0, 0.5, 0.25, 1.0, 0.5]), "outcome must be 1"),
        (lambda f: f.assign(outcome=[1.0, np.nan, 0.0, 1.0, 0.5]), "outcome must be 1"),
        (lambda f: f.assign(outcome=["1", "0", "1", "0", "1"]), "outcome must be numeric"),
        (lambda f: f.assign(outcome=[-1.0, 0.5, 0.0, 1.0, 0.5]), "outcome must be 1"),
        (
            lambda f: f.assign(weight=[1.0, np.nan, 1.0, 1.0, 1.0]),
            "weight must be finite and non-negative",
        ),
        (
            lambda f: f.assign(weight=[1.0, -0.5, 1.0, 1.0, 1.0]),
            "weight must be finite and non-negative",
        ),
        (
            lambda f: f.assign(weight=[1.0, np.inf, 1.0, 1.0, 1.0]),
            "weight must be finite and non-negative",
        ),
        (lambda f: f.assign(model_a=["a", None, "c", "a", "b"]), "model_a has 1 missing values"),
        (lambda f: f.assign(prompt=[1, 1, None, 2, 3]), "prompt has 1 missing values"),
    ],
)
def test_bad_ratings_are_refused(change: Any, message: str) -> None:
    with pytest.raises(StatsInputError, match=message):
        rank_models(change(good()))


def test_error_class_is_a_value_error() -> None:
    assert issubclass(StatsInputError, ValueError)
    assert issubclass(DisconnectedComparisonGraphError, StatsInputError)


def test_not_a_dataframe() -> None:
    with pytest.raises(StatsInputError, match="expected a pandas DataFrame"):
        Comparisons.from_ratings([("p", "a", "b", 1.0)])  # type: ignore[arg-type]


def test_arrays_of_different_lengths() -> None:
    with pytest.raises(StatsInputError, match="different lengths"):
        Comparisons.from_arrays(prompt=[1, 2], model_a=["a", "b"], model_b=["b"], outcome=[1, 0])


def test_self_comparison_names_the_model() -> None:
    with pytest.raises(StatsInputError, match="model 'b'"):
        Comparisons.from_arrays(
            prompt=[1, 2], model_a=["a", "b"], model_b=["c", "b"], outcome=[1, 0]
        )


def counts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prompt": [1, 2],
            "model_a": ["a", "b"],
            "model_b": ["b", "a"],
            "wins_a": [2, 1],
            "ties": [0, 1],
            "wins_b": [1, 0],
        }
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(wins_a=[-1, 1]), "wins_a must hold non-negative whole numbers"),
        (lambda f: f.assign(ties=[0.5, 1]), "ties must hold non-negative whole numbers"),
        (lambda f: f.assign(wins_b=[np.nan, 0]), "wins_b must hold non-negative whole numbers"),
        (lambda f: f.assign(wins_a=0, ties=0, wins_b=0), "empty or all zero"),
        (lambda f: f.drop(columns=["ties"]), r"missing columns \['ties'\]"),
        (lambda f: f.assign(model_b=["a", "a"]), "compare a model with itself"),
        (lambda f: f.assign(weight=[1.0, -1.0]), "weight must be finite and non-negative"),
    ],
)
def test_bad_counts_are_refused(change: Any, message: str) -> None:
    with pytest.raises(StatsInputError, match=message):
        Comparisons.from_counts(change(counts()))


def test_disconnected_graph_reports_the_groups() -> None:
    ratings = pd.DataFrame(
        {
            "prompt": [1, 2, 3, 4, 5],
            "model_a": ["a", "b", "x", "y", "z"],
            "model_b": ["b", "c", "y", "z", "x"],
            "outcome": [1.0, 0.0, 0.5, 1.0, 1.0],
        }
    ).pipe(lambda f: pd.concat([f, f.assign(model_a=f.model_b, model_b=f.model_a)]))
    # The fit itself refuses a disconnected graph; the leaderboard ranks the largest group.
    with pytest.raises(DisconnectedComparisonGraphError) as caught:
        fit_bradley_terry(Comparisons.from_ratings(ratings))
    assert caught.value.components == (("a", "b", "c"), ("x", "y", "z"))
    assert "2 disconnected groups" in str(caught.value)
    board = rank_models(ratings, RankingConfig(replicas=10, min_ratings=1))
    assert [line.model for line in board.ranked] != []
    assert {line.model for line in board.ranked} == {"a", "b", "c"}
    for model in ("x", "y", "z"):
        assert board.get(model).not_ranked_reason == "not connected to the main group"


def test_ratings_with_zero_weight_do_not_connect_groups() -> None:
    ratings = pd.concat(
        [
            good().assign(weight=1.0),
            pd.DataFrame(
                [{"prompt": 9, "model_a": "a", "model_b": "solo", "outcome": 1.0, "weight": 0.0}]
            ),
        ]
    )
    config = RankingConfig(replicas=10, min_ratings=1, require_wins_and_losses=False)
    board = rank_models(ratings, config)
    assert {line.model for line in board.ranked} == {"a", "b", "c"}
    assert board.get("solo").not_ranked_reason == "not connected to the main group"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"interval": "jackknife"}, "interval must be one of"),
        ({"resample": "annotator"}, "resample must be one of"),
        ({"weighting": "magic"}, "weighting must be one of"),
        ({"replicas": 1}, "replicas must be a whole number >= 2"),
        ({"replicas": 10.5}, "replicas must be a whole number"),
        ({"seed": -1}, "seed must be a whole number >= 0"),
        ({"min_ratings": 0}, "min_ratings must be a whole number >= 1"),
        ({"prior_sd": 0.0}, "prior_sd must be a positive finite number"),
        ({"prior_sd": float("nan")}, "prior_sd must be a positive finite number"),
        ({"bootstrap_interval": "bca"}, "bootstrap_interval must be one of"),
        ({"require_wins_and_losses": "yes"}, "require_wins_and_losses must be true or false"),
        ({"confidence": 1.0}, "confidence must be below 1"),
        ({"confidence": 0}, "confidence must be a positive"),
        ({"tolerance": -1e-6}, "tolerance must be a positive"),
    ],
)
def test_bad_config_is_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(StatsInputError, match=message):
        RankingConfig(**options)


def test_unknown_config_keys_are_refused() -> None:
    with pytest.raises(StatsInputError, match=r"unknown ranking parameters: \['colour'\]"):
        RankingConfig.from_dict({"seed": 1, "colour": "blue"})
