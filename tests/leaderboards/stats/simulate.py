"""The stats tests' boards: SEAL-like ratings with known Bradley-Terry strengths, drawn by the
project's one rater simulator (seal/simulation.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leaderboards.stats import ELO_BASE, ELO_SCALE
from seal.simulation import (
    panel_outcomes,
    ratings_frame,
    simulate_ratings,
    win_probability,
)

__all__ = [
    "dense_board",
    "new_model_board",
    "simulate_ratings",
    "sparse_board",
    "true_elo",
]


def true_elo(strengths: np.ndarray) -> np.ndarray:
    """Elo of the generating strengths, centred like the estimate (mean 1000 over the models)."""
    return ELO_BASE + ELO_SCALE * (strengths - strengths.mean())


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
    outcomes = panel_outcomes(
        rng, win_probability(strengths[8] - strengths[opponents]), shared=0.6, tie_share=0.3
    )
    new = ratings_frame(10_000 + np.arange(5), np.full(5, 8), opponents, outcomes)
    return pd.concat([established, new], ignore_index=True), strengths, [8]
