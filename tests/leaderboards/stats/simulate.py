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
