"""Simulated raters of known Bradley–Terry strengths: the one definition the demo seed, the test
worlds and the benchmarks all draw their ratings from.

Plain numpy/pandas and the standard library, no Django: the benchmarks and the stats tests use it
without the project's settings. It lives in seal/ because the lowest layers that seed ratings
(the demo's catalog and annotation seeds) may import seal/ but not leaderboards/
(tests/test_layering.py).

Two rater models, both Bradley–Terry (A beats B with probability 1 / (1 + exp(-(s_A - s_B)))):

* `preference_draw` / `preferences_draw`: a 5-point preference (+2 A much better ... 0 tie ...
  -2 B much better) as the rating form records it, with a fixed tie rate. Used where ratings are
  written to the database (the demo seed, the leaderboard test world, the database benchmarks).
* `panel_outcomes` / `simulate_ratings`: outcomes (1 / 0.5 / 0) of comparisons judged by a panel
  of raters, ties drawn so that E[outcome] is exactly the Bradley–Terry probability (the
  estimand of the simulated data is the generating strength). Used by the ranking engine's tests
  and benchmarks.

Every function draws from the generator it is given, in a fixed order, so seeded callers get the
same ratings run after run; a rate of exactly 0 draws nothing, which keeps the draws of callers
whose raters never tie (or never say "much") what they were.
"""

from __future__ import annotations

import math
from typing import Protocol, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]


class UniformSource(Protocol):
    """Anything with `random()` in [0, 1): `random.Random` (the demo's string-seeded generators)
    and `numpy.random.Generator` both are."""

    def random(self) -> float: ...


@overload
def win_probability(log_odds: float) -> float: ...
@overload
def win_probability(log_odds: FloatArray) -> FloatArray: ...
def win_probability(log_odds: float | FloatArray) -> float | FloatArray:
    """Bradley–Terry probability that A beats B, from s_A - s_B (plus any shift of the log-odds)."""
    if type(log_odds) is float:
        return 1.0 / (1.0 + math.exp(-log_odds))
    return 1.0 / (1.0 + np.exp(-np.asarray(log_odds, dtype=np.float64)))


def preference_draw(
    rng: UniformSource, p_a: float, *, tie_rate: float, strong_rate: float | None = None
) -> int:
    """One rater's 5-point preference for A: a tie with probability `tie_rate`, otherwise A wins
    with probability `p_a`, by much with probability `strong_rate` (None: the clearer the pair,
    the more often, 1.6 |p_a - 1/2|). Draws tie, win, strength in that order; a tie draws no
    more."""
    if tie_rate and rng.random() < tie_rate:
        return 0
    a_wins = rng.random() < p_a
    if strong_rate is None:
        strong = rng.random() < abs(p_a - 0.5) * 1.6
    else:
        strong = bool(strong_rate) and rng.random() < strong_rate
    return (2 if strong else 1) * (1 if a_wins else -1)


def preferences_draw(
    rng: np.random.Generator, p_a: FloatArray, *, tie_rate: float, strong_rate: float
) -> npt.NDArray[np.int64]:
    """`preference_draw` for many comparisons at once, one rater each: three uniforms per
    comparison (tie, win, strength), drawn as three arrays in that order."""
    n = len(p_a)
    tie = rng.random(n) < tie_rate
    a_wins = rng.random(n) < p_a
    strong = rng.random(n) < strong_rate
    return np.where(tie, 0, np.where(a_wins, 1, -1) * np.where(strong, 2, 1)).astype(np.int64)


def preferences_outcome(preference: npt.ArrayLike) -> FloatArray:
    """The Bradley–Terry outcome of 5-point preferences for A: 1 win, 0.5 tie, 0 loss."""
    return (np.sign(np.asarray(preference, dtype=np.float64)) + 1.0) / 2.0


def outcome_from_uniform(uniform: FloatArray, prob: FloatArray, tie_share: float) -> FloatArray:
    """Win / tie / loss with E[outcome] = prob exactly (ties count half).

    P(tie) = tau = tie_share * 2 * min(prob, 1 - prob), P(win) = prob - tau / 2, so the
    Bradley–Terry estimand of the simulated data is exactly the generating strength.
    """
    tau = tie_share * 2.0 * np.minimum(prob, 1.0 - prob)
    return np.where(uniform < prob - tau / 2.0, 1.0, np.where(uniform < prob + tau / 2.0, 0.5, 0.0))


def panel_outcomes(
    rng: np.random.Generator,
    prob: FloatArray,
    *,
    annotators: int = 3,
    shared: float = 0.0,
    tie_share: float = 0.3,
) -> FloatArray:
    """Outcomes (comparisons x annotators) of comparisons A beats B with probability `prob`.

    With probability `shared` a comparison's annotators all give the same verdict (one draw),
    otherwise they judge independently: ratings of a comparison are positively correlated while
    each rating's marginal distribution stays exactly Bradley–Terry.
    """
    n = len(prob)
    is_shared = rng.random(n) < shared
    common = rng.random(n)
    own = rng.random((n, annotators))
    uniform = np.where(is_shared[:, None], common[:, None], own)
    return outcome_from_uniform(uniform, np.asarray(prob)[:, None], tie_share)


def pairs_draw(
    rng: np.random.Generator, n_models: int, n: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """`n` ordered pairs of distinct models, uniformly at random."""
    first = rng.integers(0, n_models, n)
    second = (first + rng.integers(1, n_models, n)) % n_models
    return first, second


def ratings_frame(
    prompt: npt.ArrayLike, model_a: npt.ArrayLike, model_b: npt.ArrayLike, outcomes: FloatArray
) -> pd.DataFrame:
    """One row per rating (prompt, model_a, model_b, outcome) from per-comparison arrays and
    their panel's outcomes (comparisons x annotators), as the ranking engine reads them."""
    annotators = outcomes.shape[1]
    return pd.DataFrame(
        {
            "prompt": np.repeat(prompt, annotators),
            "model_a": np.repeat(model_a, annotators),
            "model_b": np.repeat(model_b, annotators),
            "outcome": outcomes.ravel(),
        }
    )


def simulate_ratings(
    rng: np.random.Generator,
    strengths: FloatArray,
    *,
    n_prompts: int,
    comparisons_per_prompt: int,
    annotators: int = 3,
    shared: float = 0.0,
    tie_share: float = 0.3,
) -> pd.DataFrame:
    """Ratings where each comparison (prompt, random pair) is judged by `annotators` people
    (`panel_outcomes`), `comparisons_per_prompt` comparisons on each of `n_prompts` prompts."""
    first, second = pairs_draw(rng, len(strengths), n_prompts * comparisons_per_prompt)
    prompt = np.repeat(np.arange(n_prompts), comparisons_per_prompt)
    outcomes = panel_outcomes(
        rng,
        win_probability(strengths[first] - strengths[second]),
        annotators=annotators,
        shared=shared,
        tie_share=tie_share,
    )
    return ratings_frame(prompt, first, second, outcomes)
