"""Who gets a rank and where the scale sits: the prior, the ranking rules, components, anchoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leaderboards.stats import RankingConfig, rank_models

from .simulate import simulate_ratings

ESTABLISHED = np.array([0.9, 0.5, 0.2, 0.0, -0.3, -0.8])


@pytest.fixture(scope="module")
def established() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return simulate_ratings(rng, ESTABLISHED, n_prompts=150, comparisons_per_prompt=3, shared=0.5)


def newcomer_won_all(ratings: pd.DataFrame, wins: int) -> pd.DataFrame:
    """A new model that won every one of its `wins` ratings, each on a new prompt."""
    extra = pd.DataFrame(
        {
            "prompt": 10_000 + np.arange(wins),
            "model_a": "new",
            "model_b": np.arange(wins) % len(ESTABLISHED),
            "outcome": 1.0,
        }
    )
    return pd.concat([ratings, extra], ignore_index=True)


def test_an_undefeated_newcomer_is_listed_with_the_reason_not_ranked_first(established) -> None:
    ratings = newcomer_won_all(established, 3)
    board = rank_models(ratings, RankingConfig(replicas=100))
    line = board.get("new")
    assert (line.rank, line.elo) == (None, None)
    assert line.not_ranked_reason == "3 ratings; needs 20"
    assert board.to_dict()["models"][-1]["not_ranked_reason"] == "3 ratings; needs 20"
    assert board.ranked[0].model == 0
    # Enough ratings but still no loss: not ranked, and the board says why.
    many = rank_models(newcomer_won_all(established, 25), RankingConfig(replicas=100))
    assert many.get("new").not_ranked_reason == "no losses yet"
    losing = established.assign(outcome=np.where(established.model_a == 5, 0.0, 1.0))
    losing = losing[(losing.model_a == 5) | (losing.model_b == 5)]
    rest = established[(established.model_a != 5) & (established.model_b != 5)]
    without_wins = rank_models(pd.concat([rest, losing]), RankingConfig(replicas=100))
    assert without_wins.get(5).not_ranked_reason == "no wins yet"


def test_the_prior_keeps_a_three_wins_newcomer_modest_with_a_wide_interval(established) -> None:
    """Ranked anyway (rules off), the 3-0 newcomer is not put 1300 Elo above average."""
    config = RankingConfig(replicas=300, min_ratings=1, require_wins_and_losses=False)
    line = rank_models(newcomer_won_all(established, 3), config).get("new")
    assert line.elo is not None and line.lower is not None and line.upper is not None
    assert 1050 < line.elo < 1500
    assert line.upper - line.lower > 300


def test_one_bridging_rating_does_not_put_two_outsiders_first_and_second(established) -> None:
    rows: list[tuple[int, str, object, float]] = [
        (20_000 + k, "P", "Q", 1.0 if k % 3 else 0.0) for k in range(30)
    ]
    rows.append((30_000, "P", 5, 1.0))  # the only rating linking P and Q to the board
    outsiders = pd.DataFrame(rows, columns=["prompt", "model_a", "model_b", "outcome"])
    board = rank_models(pd.concat([established, outsiders]), RankingConfig(replicas=200))
    assert [line.model for line in board.ranked] == list(range(len(ESTABLISHED)))
    for model in ("P", "Q"):
        assert board.get(model).not_ranked_reason == "no losses against the main group yet"
    # Once they have lost to the board too, the likelihood places them and they are ranked,
    # with the wide intervals of two ratings' worth of evidence.
    lost = pd.DataFrame([(30_001, 3, "Q", 1.0)], columns=outsiders.columns)
    board = rank_models(pd.concat([established, outsiders, lost]), RankingConfig(replicas=200))
    p = board.get("P")
    assert p.rank is not None and p.lower is not None and p.upper is not None
    assert p.upper - p.lower > 400


def test_two_disconnected_groups_rank_the_larger_and_list_the_other(established) -> None:
    rng = np.random.default_rng(3)
    other = simulate_ratings(
        rng, np.array([0.4, 0.0, -0.4]), n_prompts=60, comparisons_per_prompt=2
    )
    other = other.assign(
        prompt=other.prompt + 50_000,
        model_a="g" + other.model_a.astype(str),
        model_b="g" + other.model_b.astype(str),
    )
    board = rank_models(pd.concat([established, other]), RankingConfig(replicas=100))
    assert {line.model for line in board.ranked} == set(range(len(ESTABLISHED)))
    for name in ("g0", "g1", "g2"):
        line = board.get(name)
        assert line.rank is None and line.n_ratings > 20
        assert line.not_ranked_reason == "not connected to the main group"
    alone = rank_models(established, RankingConfig(replicas=100))
    for model in range(len(ESTABLISHED)):
        assert board.get(model).elo == pytest.approx(alone.get(model).elo, abs=1e-9)


def test_a_weak_newcomer_does_not_move_established_models_once_anchored(established) -> None:
    first = rank_models(established, RankingConfig(replicas=200, seed=1))
    previous = {line.model: line.elo for line in first.ranked if line.elo is not None}
    # A weak model whose record against each established model is what the first board's
    # strengths predict (ties make the shares exact to 1/80), on prompts of its own: it adds
    # nothing about the gaps between the established models.
    weak_elo = min(previous.values()) - 150.0
    outcomes, opponents = [], []
    for model, elo in previous.items():
        share = 1.0 / (1.0 + 10 ** ((elo - weak_elo) / 400.0))
        points = round(share * 80)  # of 40 ratings, in half points
        wins, ties = divmod(points, 2)
        outcomes += [1.0] * wins + [0.5] * ties + [0.0] * (40 - wins - ties)
        opponents += [model] * 40
    weak = pd.DataFrame(
        {
            "prompt": 60_000 + np.arange(len(opponents)),
            "model_a": "weak",
            "model_b": opponents,
            "outcome": outcomes,
        }
    )
    joined = pd.concat([established, weak])
    centred = rank_models(joined, RankingConfig(replicas=200, seed=2))
    anchored = rank_models(joined, RankingConfig(replicas=200, seed=2), anchor=previous)
    assert anchored.get("weak").rank == len(ESTABLISHED) + 1
    # Centred at 1000 over all ranked models, everybody moves up when a weak model joins.
    assert centred.get(0).elo - previous[0] > 30  # type: ignore[operator]
    for model in range(len(ESTABLISHED)):
        line, plain = anchored.get(model), centred.get(model)
        assert line.elo == pytest.approx(previous[model], abs=2.0)
        # One shift for estimate, interval and replicas alike.
        shift = anchored.anchor.shift
        assert line.elo == pytest.approx(plain.elo + shift)  # type: ignore[operator]
        assert line.lower == pytest.approx(plain.lower + shift)  # type: ignore[operator]
        assert line.upper == pytest.approx(plain.upper + shift)  # type: ignore[operator]
    assert anchored.elo_replicas is not None and centred.elo_replicas is not None
    np.testing.assert_allclose(anchored.elo_replicas, centred.elo_replicas + shift)
    assert set(anchored.anchor.models) == set(range(len(ESTABLISHED)))
    assert anchored.anchor.reference_mean == pytest.approx(np.mean(list(previous.values())))
    stored = anchored.to_dict()["anchor"]
    assert stored["shift"] == pytest.approx(shift) and stored["models"] == list(range(6))
    # No shared model: the first snapshot's convention, centred at 1000.
    fresh = rank_models(joined, RankingConfig(replicas=200, seed=2), anchor={"gone": 1234.0})
    assert fresh.anchor.shift == 0.0
    assert np.mean([line.elo for line in fresh.ranked]) == pytest.approx(1000.0)
