"""Coverage of the leaderboard's 95% intervals, per scenario and per kind of interval.

    python bench/bench_coverage.py                     # 500 boards per scenario, 500 replicas
    python bench/bench_coverage.py --boards 200 --replicas 300

Simulates boards with known Bradley-Terry strengths (seal/simulation.py, the boards of
tests/leaderboards/stats/simulate.py: three annotators per comparison who often share one
verdict, ties included) and counts how
often each interval holds the true Elo, centred like the estimate. Every model gets an
interval here (the ranking rules are off), so a new model with 15 ratings is judged too.
Percentile, basic (the engine's default) and normal-with-bootstrap-SE intervals come from
the same replicas; the sandwich is the closed-form cluster-robust interval. Prints Markdown.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leaderboards.stats import RankingConfig, rank_models
from leaderboards.stats.intervals import percentile_interval
from seal.simulation import simulate_ratings
from tests.leaderboards.stats.simulate import dense_board, new_model_board, sparse_board, true_elo

Scenario = Callable[[np.random.Generator], tuple[pd.DataFrame, np.ndarray, list[int]]]
KINDS = ("percentile", "basic", "normal", "sandwich")


def very_sparse_board(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, list[int]]:
    """10 models, 15 prompts x 2 comparisons x 3 annotators: about 18 ratings per model."""
    strengths = rng.normal(0.0, 0.5, 10)
    ratings = simulate_ratings(rng, strengths, n_prompts=15, comparisons_per_prompt=2, shared=0.6)
    return ratings, strengths, list(range(10))


SCENARIOS: dict[str, tuple[Scenario, str]] = {
    "dense": (dense_board, "10 models, 200 prompts x 4 comparisons x 3 annotators"),
    "sparse": (sparse_board, "10 models, 30 prompts x 2 comparisons x 3 annotators"),
    "very sparse": (very_sparse_board, "10 models, 15 prompts x 2 comparisons x 3 annotators"),
    "new model": (new_model_board, "8 models x 150 prompts; the new model: 15 ratings (judged)"),
}


def run(scenario: Scenario, boards: int, replicas: int, seed: int) -> tuple[dict[str, int], int]:
    """Hits per interval kind and the number of intervals judged."""
    rng = np.random.default_rng(seed)
    hits = dict.fromkeys(KINDS, 0)
    total = 0
    for number in range(boards):
        ratings, strengths, judged = scenario(rng)
        board = rank_models(
            ratings,
            RankingConfig(
                replicas=replicas, seed=number, min_ratings=1, require_wins_and_losses=False
            ),
        )
        sandwich = rank_models(
            ratings,
            RankingConfig(interval="sandwich", min_ratings=1, require_wins_and_losses=False),
        )
        ranked = [line.model for line in board.ranked]
        truth = dict(zip(ranked, true_elo(strengths[np.array(ranked)]), strict=True))
        assert board.elo_replicas is not None
        low, high = percentile_interval(board.elo_replicas, 0.95)
        spread = board.elo_replicas.std(axis=0, ddof=1)
        for model in judged:
            if model not in truth:
                continue
            value, column = truth[model], board.win_rate_models.index(model)
            line, cross = board.get(model), sandwich.get(model)
            assert line.elo is not None
            assert line.lower is not None
            assert line.upper is not None
            assert cross.lower is not None
            assert cross.upper is not None
            hits["percentile"] += int(low[column] <= value <= high[column])
            hits["basic"] += int(line.lower <= value <= line.upper)
            hits["normal"] += int(abs(value - line.elo) <= 1.959964 * spread[column])
            hits["sandwich"] += int(cross.lower <= value <= cross.upper)
            total += 1
    return hits, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=500, help="simulated boards per scenario")
    parser.add_argument("--replicas", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    print(
        f"## Interval coverage: {args.boards} boards per scenario, {args.replicas} prompt-bootstrap"
        " replicas, nominal 95%\n"
    )
    header = ("scenario", "intervals judged", "percentile", "basic (chosen)", "normal", "sandwich")
    print("| " + " | ".join(header) + " |")
    print("|---|---|---|---|---|---|")
    for offset, (name, (scenario, description)) in enumerate(SCENARIOS.items()):
        started = time.perf_counter()
        hits, total = run(scenario, args.boards, args.replicas, args.seed + offset)
        cells = []
        for kind in KINDS:
            share = hits[kind] / total
            # Binomial standard error; intervals of one board are correlated, so it is a floor.
            error = math.sqrt(share * (1 - share) / total)
            cells.append(f"{100 * share:.1f}% ± {100 * error:.1f}")
        elapsed = time.perf_counter() - started
        print(f"| {name} ({description}; {elapsed:.0f} s) | {total} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
