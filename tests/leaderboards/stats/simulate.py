"""Synthetic SEAL-like ratings with known Bradley-Terry strengths, for the stats tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leaderboards.stats import ELO_BASE, ELO_SCALE


def true_elo(strengths: np.ndarray) -> np.ndarray:
    """Elo of the generating strengths, centred like the estimate (mean 1000 over the models)."""
    return ELO_BASE + ELO_SCALE * (strengths - strengths.mean())


def outcome_from_uniform(uniform: np.ndarray, prob: np.ndarray, tie_share: float) -> np.ndarray:
    """Win / tie / loss with E[outcome] = prob exactly (ties count half).

    P(tie) = tau = tie_share * 2 * min(prob, 1 - prob), P(win) = prob - tau / 2, so the
    Bradley-Terry estimand of the simulated data is exactly the generating strength.
    """
    tau = tie_share * 2.0 * np.minimum(prob, 1.0 - prob)
    return np.where(uniform < prob - tau / 2.0, 1.0, np.where(uniform < prob + tau / 2.0, 0.5, 0.0))


def simulate_ratings(
    rng: np.random.Generator,
    strengths: np.ndarray,
    *,
    n_prompts: int,
    comparisons_per_prompt: int,
    annotators: int = 3,
    shared: float = 0.0,
    tie_share: float = 0.3,
) -> pd.DataFrame:
    """Ratings where each comparison (prompt, pair) is judged by `annotators` people.

    With probability `shared` a comparison's annotators all give the same verdict (one draw),
    otherwise they judge independently: ratings of a prompt are positively correlated while
    each rating's marginal distribution stays exactly Bradley-Terry.
    """
    m = len(strengths)
    n_comparisons = n_prompts * comparisons_per_prompt
    first = rng.integers(0, m, n_comparisons)
    second = (first + rng.integers(1, m, n_comparisons)) % m
    prompt = np.repeat(np.arange(n_prompts), comparisons_per_prompt)
    is_shared = rng.random(n_comparisons) < shared
    common = rng.random(n_comparisons)
    own = rng.random((n_comparisons, annotators))
    uniform = np.where(is_shared[:, None], common[:, None], own)
    prob = 1.0 / (1.0 + np.exp(-(strengths[first] - strengths[second])))
    outcome = outcome_from_uniform(uniform, prob[:, None], tie_share)
    return pd.DataFrame(
        {
            "prompt": np.repeat(prompt, annotators),
            "model_a": np.repeat(first, annotators),
            "model_b": np.repeat(second, annotators),
            "outcome": outcome.ravel(),
        }
    )


def dense_board(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, list[int]]:
    """10 models, 200 prompts x 4 comparisons x 3 annotators: ratings, strengths, models judged."""
    strengths = rng.normal(0.0, 0.5, 10)
    ratings = simulate_ratings(rng, strengths, n_prompts=200, comparisons_per_prompt=4, shared=0.6)
    return ratings, strengths, list(range(10))


def sparse_board(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, list[int]]:
    """10 models, 30 prompts x 2 comparisons x 3 annotators: about 36 ratings per model."""
    strengths = rng.normal(0.0, 0.5, 10)
    ratings = simulate_ratings(rng, strengths, n_prompts=30, comparisons_per_prompt=2, shared=0.6)
    return ratings, strengths, list(range(10))


def new_model_board(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, list[int]]:
    """8 established models (150 prompts x 4 comparisons) and model 8, new, with 15 ratings:
    5 comparisons on prompts of its own, each judged by 3 annotators."""
    strengths = rng.normal(0.0, 0.5, 9)
    established = simulate_ratings(
        rng, strengths[:8], n_prompts=150, comparisons_per_prompt=4, shared=0.6
    )
    opponents = rng.integers(0, 8, 5)
    prob = 1.0 / (1.0 + np.exp(-(strengths[8] - strengths[opponents])))
    shared = rng.random(5) < 0.6
    uniform = np.where(shared[:, None], rng.random(5)[:, None], rng.random((5, 3)))
    outcome = outcome_from_uniform(uniform, prob[:, None], 0.3)
    new = pd.DataFrame(
        {
            "prompt": np.repeat(10_000 + np.arange(5), 3),
            "model_a": 8,
            "model_b": np.repeat(opponents, 3),
            "outcome": outcome.ravel(),
        }
    )
    return pd.concat([established, new], ignore_index=True), strengths, [8]
