"""Style control: known covariate effects and strengths are recovered; no effect, no change."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from leaderboards.stats import (
    ELO_SCALE,
    Comparisons,
    RankingConfig,
    StatsInputError,
    fit_style_controlled,
    normalised_differences,
    rank_models,
    rank_spread,
    style_controlled,
    style_point_fit,
)
from leaderboards.stats.intervals import prompt_replica_counts, replica_counts
from leaderboards.stats.style import STYLE_FEATURES


def _simulate(
    seed: int,
    *,
    models: int = 8,
    prompts: int = 300,
    per_prompt: int = 4,
    raters: int = 3,
    gamma: tuple[float, ...] = (0.6, 0.0, 0.3, 0.0, 0.0),
    spread: float = 0.6,
    habits: bool = True,
) -> dict[str, np.ndarray]:
    """Rows (prompt, a, b) with win/tie/loss counts from sigmoid(beta_a - beta_b + gamma . x)."""
    rng = np.random.default_rng(seed)
    beta = rng.normal(0.0, spread, models)
    beta -= beta.mean()
    # Each answer's style counts: models differ in how long and how formatted they write.
    habit = rng.uniform(0.5, 2.0, (models, 1)) if habits else np.ones((models, 1))
    style = rng.poisson(
        np.array([200.0, 2.0, 5.0, 3.0, 1.0]) * habit[:, None, :], (models, prompts, 5)
    )
    n_rows = prompts * per_prompt
    prompt = np.repeat(np.arange(prompts), per_prompt)
    a = rng.integers(0, models, n_rows)
    b = (a + rng.integers(1, models, n_rows)) % models
    style_a = style[a, prompt].astype(float)
    style_b = style[b, prompt].astype(float)
    raw = normalised_differences(style_a, style_b)
    x = raw / np.sqrt((raw * raw).mean(axis=0))
    prob = 1.0 / (1.0 + np.exp(-(beta[a] - beta[b] + x @ np.asarray(gamma))))
    wins_a = rng.binomial(raters, prob)
    return {
        "prompt": prompt + 1000,
        "model_a": a + 10,
        "model_b": b + 10,
        "wins_a": wins_a,
        "ties": np.zeros(n_rows, dtype=np.int64),
        "wins_b": raters - wins_a,
        "style_a": style_a,
        "style_b": style_b,
        "beta": beta,
    }


def _fit(data: dict[str, np.ndarray], *, replicas: int = 200, seed: int = 5, **extra):
    models = tuple(range(10, 10 + len(data["beta"])))
    return fit_style_controlled(
        prompt=data["prompt"],
        model_a=data["model_a"],
        model_b=data["model_b"],
        wins_a=data["wins_a"],
        ties=data["ties"],
        wins_b=data["wins_b"],
        style_a=data["style_a"],
        style_b=data["style_b"],
        models=models,
        ridge=RankingConfig().ridge,
        replicas=replicas,
        seed=seed,
        **extra,
    )


def test_normalised_differences_follow_lmarena():
    diff = normalised_differences([[30, 0, 2]], [[10, 0, 0]])
    assert diff.tolist() == [[0.5, 0.0, 1.0]]
    with pytest.raises(StatsInputError, match="non-negative"):
        normalised_differences([[-1]], [[1]])


def test_known_style_effects_and_strengths_are_recovered():
    data = _simulate(11, prompts=1500, per_prompt=6)
    result = _fit(data, replicas=300)
    by_feature: dict[str, Any] = {c.feature: c for c in result.coefficients}
    # Length differences go mostly with the models' habits, so length is the least precise.
    assert by_feature["length"].coefficient == pytest.approx(0.6, abs=0.15)
    assert by_feature["lists"].coefficient == pytest.approx(0.3, abs=0.08)
    for name in ("headers", "bold", "code_blocks"):
        assert abs(by_feature[name].coefficient) < 0.08
    # The intervals of the true effects hold them, and the two real effects exclude zero.
    truth = dict(zip(STYLE_FEATURES, (0.6, 0.0, 0.3, 0.0, 0.0), strict=True))
    covered = sum(by_feature[f].lower <= truth[f] <= by_feature[f].upper for f in truth)
    assert covered >= 4
    assert by_feature["length"].lower > 0 and by_feature["lists"].lower > 0
    elo_truth = 1000 + ELO_SCALE * data["beta"]
    assert np.abs(result.elo - elo_truth).max() < 40
    assert np.corrcoef(result.elo, elo_truth)[0, 1] > 0.98


def test_plain_board_is_biased_by_style_and_the_controlled_one_is_not():
    # Strong length effect; the plain board absorbs it into the strengths of verbose models.
    data = _simulate(12, prompts=1500, per_prompt=6, gamma=(1.0, 0.0, 0.0, 0.0, 0.0))
    controlled = _fit(data, replicas=50)
    plain = rank_models(
        Comparisons.from_count_arrays(
            prompt=data["prompt"],
            model_a=data["model_a"],
            model_b=data["model_b"],
            wins_a=data["wins_a"],
            ties=data["ties"],
            wins_b=data["wins_b"],
        ),
        RankingConfig(replicas=50, seed=1),
    )
    truth = 1000 + ELO_SCALE * data["beta"]
    plain_elo = np.array([plain.get(model).elo for model in controlled.models])
    assert np.abs(controlled.elo - truth).mean() < 0.5 * np.abs(plain_elo - truth).mean()


def test_without_a_style_effect_the_controlled_board_matches_the_plain_one():
    # Styles independent of the model: controlling for them then costs no precision either.
    data = _simulate(13, prompts=600, per_prompt=5, gamma=(0.0,) * 5, habits=False)
    counts = Comparisons.from_count_arrays(
        prompt=data["prompt"],
        model_a=data["model_a"],
        model_b=data["model_b"],
        wins_a=data["wins_a"],
        ties=data["ties"],
        wins_b=data["wins_b"],
    )
    plain = rank_models(counts, RankingConfig(replicas=300, seed=9))
    models = tuple(line.model for line in plain.ranked)
    mean = float(np.mean([line.elo for line in plain.ranked]))
    controlled = fit_style_controlled(
        prompt=data["prompt"],
        model_a=data["model_a"],
        model_b=data["model_b"],
        wins_a=data["wins_a"],
        ties=data["ties"],
        wins_b=data["wins_b"],
        style_a=data["style_a"],
        style_b=data["style_b"],
        models=models,
        ridge=RankingConfig().ridge,
        replicas=300,
        seed=9,
        elo_mean=mean,
    )
    for code, model in enumerate(models):
        line: Any = plain.get(model)
        assert controlled.elo[code] == pytest.approx(line.elo, abs=8)
        assert controlled.upper[code] - controlled.lower[code] == pytest.approx(
            line.upper - line.lower, rel=0.25
        )
        assert controlled.rank_with_uncertainty[code] == line.rank_with_uncertainty
    assert all(c.lower < 0 < c.upper for c in controlled.coefficients)  # type: ignore[operator]


def test_identical_styles_leave_exactly_the_plain_fit():
    data = _simulate(14, prompts=200, per_prompt=4, gamma=(0.0,) * 5)
    same = np.ones_like(data["style_a"])
    data = {**data, "style_a": same, "style_b": same}
    controlled = _fit(data, replicas=20)
    assert all(c.coefficient is None for c in controlled.coefficients)
    plain = rank_models(
        Comparisons.from_count_arrays(
            prompt=data["prompt"],
            model_a=data["model_a"],
            model_b=data["model_b"],
            wins_a=data["wins_a"],
            ties=data["ties"],
            wins_b=data["wins_b"],
        ),
        RankingConfig(replicas=20, seed=1, min_ratings=1),
    )
    for code, model in enumerate(controlled.models):
        assert controlled.elo[code] == pytest.approx(plain.get(model).elo, abs=1e-3)


def test_replicas_are_the_engine_prompt_bootstrap():
    # The same seed and prompt count give the same multinomial weights, whatever the chunking.
    whole = np.vstack([counts for _, counts in prompt_replica_counts(37, 10, 4, chunk=10)])
    pieces = np.vstack([counts for _, counts in replica_counts(37, 10, 4, chunk=3)])
    assert np.array_equal(whole, pieces)
    assert (whole.sum(axis=1) == 37).all()


def test_rows_without_style_keep_their_prompts_but_leave_the_fit():
    data = _simulate(15, prompts=200, per_prompt=4)
    has_style = np.ones(len(data["prompt"]), dtype=bool)
    has_style[::7] = False
    result = _fit(data, replicas=20, has_style=has_style)
    total = data["wins_a"] + data["ties"] + data["wins_b"]
    assert result.n_ratings == int(total.sum())
    assert result.n_ratings_without_style == int(total[~has_style].sum())


def test_bad_input_names_the_problem():
    data = _simulate(16, prompts=50, per_prompt=2)
    with pytest.raises(StatsInputError, match="5 columns"):
        _fit({**data, "style_a": data["style_a"][:, :3], "style_b": data["style_b"][:, :3]})
    with pytest.raises(StatsInputError, match="no ratings between"):
        fit_style_controlled(
            prompt=data["prompt"],
            model_a=data["model_a"],
            model_b=data["model_b"],
            wins_a=data["wins_a"],
            ties=data["ties"],
            wins_b=data["wins_b"],
            style_a=data["style_a"],
            style_b=data["style_b"],
            models=(998, 999),
            ridge=1.0,
            replicas=5,
            seed=0,
        )


def test_rank_spread_brackets_the_rank():
    draws = np.array([[3.0, 2.0, 1.0], [3.0, 1.0, 2.0], [2.9, 2.0, 1.0], [1.0, 3.0, 2.0]])
    lower, upper = rank_spread(draws, 0.5)
    assert lower.tolist() == [1, 1, 2]
    assert upper.tolist() == [1, 2, 3]


def test_the_plain_board_publishes_rank_spreads():
    data = _simulate(17, prompts=300, per_prompt=4, gamma=(0.0,) * 5)
    board = rank_models(
        Comparisons.from_count_arrays(
            prompt=data["prompt"],
            model_a=data["model_a"],
            model_b=data["model_b"],
            wins_a=data["wins_a"],
            ties=data["ties"],
            wins_b=data["wins_b"],
        ),
        RankingConfig(replicas=100, seed=2),
    )
    lines: list[Any] = list(board.ranked)
    for line in lines:
        assert line.rank_lower is not None and line.rank_upper is not None
        assert line.rank_lower <= line.rank <= line.rank_upper
        assert line.to_dict()["rank_lower"] == line.rank_lower
    sandwich = rank_models(
        Comparisons.from_count_arrays(
            prompt=data["prompt"],
            model_a=data["model_a"],
            model_b=data["model_b"],
            wins_a=data["wins_a"],
            ties=data["ties"],
            wins_b=data["wins_b"],
        ),
        RankingConfig(interval="sandwich"),
    )
    assert all(line.rank_lower is None for line in sandwich.models)


def test_the_style_view_takes_its_replicas_from_the_plain_bootstrap():
    # Fitted inside rank_models (the recompute's path) it equals the standalone fit that
    # redraws the replicas: the same seed gives the same prompt counts.
    data = _simulate(18, prompts=200, per_prompt=4)
    fits: list[Any] = []

    def extra(used: Comparisons, beta: np.ndarray) -> np.ndarray:
        fit = style_point_fit(
            prompt=data["prompt"],
            model_a=data["model_a"],
            model_b=data["model_b"],
            wins_a=data["wins_a"],
            ties=data["ties"],
            wins_b=data["wins_b"],
            style_a=data["style_a"],
            style_b=data["style_b"],
            models=used.models,
            ridge=RankingConfig().ridge,
            start=beta,
        )
        fits.append(fit)
        return fit.scores

    board = rank_models(
        Comparisons.from_count_arrays(
            prompt=data["prompt"],
            model_a=data["model_a"],
            model_b=data["model_b"],
            wins_a=data["wins_a"],
            ties=data["ties"],
            wins_b=data["wins_b"],
        ),
        RankingConfig(replicas=40, seed=21),
        extra_columns=extra,
    )
    assert board.extra_replicas is not None and board.extra_replicas.shape[0] == 40
    inside = style_controlled(fits[0], board.extra_replicas)
    alone = _fit(data, replicas=40, seed=21)
    assert np.allclose(inside.elo, alone.elo, atol=1e-6)
    assert np.allclose(inside.lower, alone.lower, atol=1e-6)
    assert np.allclose(inside.upper, alone.upper, atol=1e-6)
    for a, b in zip(inside.coefficients, alone.coefficients, strict=True):
        assert a.lower == pytest.approx(b.lower, abs=1e-9)
