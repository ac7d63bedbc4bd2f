"""Benchmark of the ranking engine against the usual ways of bootstrapping Bradley-Terry.

    python bench/bench_ranking.py                      # 1M ratings, 1k prompts, 100 models
    python bench/bench_ranking.py --ratings 200000 --models 40 --replicas 500

Prints a Markdown table. The engine is timed in a fresh child process so that its peak
resident memory (getrusage ru_maxrss, which covers numpy's allocations too) is its own; a
second child reports the tracemalloc peak of the ranking call alone. The baselines run in
this process with a few replicas each and are scaled to the full replica count:

* FastChat's original analysis: resample battles with replacement and refit scikit-learn's
  LogisticRegression (no penalty, tol 1e-6) on the duplicated-battle design, once per
  replica; timed as published (a dense design, 1.6 GB at 1M ratings) and with a sparse
  design, which is much faster and so the fairer comparison.
* scipy L-BFGS per replica on aggregated (prompt, pair) rows weighted by the replica's
  multinomial prompt counts, warm-started at the point estimate, and the same on per-replica
  pair totals (the strongest per-replica alternative). These use the engine's own draws, so
  their replica Elo can be compared with the engine's replica by replica.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leaderboards.stats import (
    ELO_SCALE,
    Comparisons,
    RankingConfig,
    bootstrap_strengths,
    fit_bradley_terry,
    rank_models,
)
from seal.simulation import pairs_draw, panel_outcomes, ratings_frame, win_probability


def simulate(args: argparse.Namespace) -> tuple[pd.DataFrame, np.ndarray]:
    """SEAL-like ratings: each comparison (prompt, pair) is judged by three annotators."""
    rng = np.random.default_rng(args.seed)
    strengths = rng.normal(0.0, 1.0, args.models)
    n_comparisons = math.ceil(args.ratings / 3)
    first, second = pairs_draw(rng, args.models, n_comparisons)
    prompt = rng.integers(0, args.prompts, n_comparisons)
    # Half the comparisons get one shared verdict from all three annotators.
    outcomes = panel_outcomes(
        rng, win_probability(strengths[first] - strengths[second]), shared=0.5, tie_share=0.3
    )
    frame = ratings_frame(prompt, first, second, outcomes).iloc[: args.ratings]
    return frame, strengths


def counts_frame(ratings: pd.DataFrame) -> pd.DataFrame:
    """What the recompute job gets from the database: GROUP BY prompt, model_a, model_b."""
    return (
        ratings.assign(
            wins_a=ratings.outcome == 1.0,
            ties=ratings.outcome == 0.5,
            wins_b=ratings.outcome == 0.0,
        )
        .groupby(["prompt", "model_a", "model_b"], as_index=False)[["wins_a", "ties", "wins_b"]]
        .sum()
    )


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def engine_child(args: argparse.Namespace) -> dict[str, Any]:
    ratings, _ = simulate(args)
    counts = counts_frame(ratings)
    config = RankingConfig(replicas=args.replicas, seed=args.seed)
    before = rss_mib()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from_frame, from_cells, from_counts, ingest = [], [], [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        board = rank_models(ratings, config)
        from_frame.append(time.perf_counter() - start)
        start = time.perf_counter()
        comparisons = Comparisons.from_ratings(ratings)
        ingest.append(time.perf_counter() - start)
        start = time.perf_counter()
        rank_models(comparisons, config)
        from_cells.append(time.perf_counter() - start)
        start = time.perf_counter()
        rank_models(Comparisons.from_counts(counts), config)
        from_counts.append(time.perf_counter() - start)
    return {
        "from_frame": from_frame,
        "from_cells": from_cells,
        "from_counts": from_counts,
        "ingest": ingest,
        "rss_before_mib": before,
        "peak_before_mib": peak_before,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "counts_rows": len(counts),
        "cells": len(comparisons.count),
        "pairs": len(np.unique(comparisons.model_i * comparisons.n_models + comparisons.model_j)),
        "elo": {str(line.model): line.elo for line in board.models},
        "not_converged": board.diagnostics.replicas_not_converged,
        "fit_iterations": board.diagnostics.fit_iterations,
    }


def tracemalloc_child(args: argparse.Namespace) -> dict[str, Any]:
    ratings, _ = simulate(args)
    config = RankingConfig(replicas=args.replicas, seed=args.seed)
    rank_models(ratings, RankingConfig(replicas=2, seed=args.seed))  # warm imports and caches
    tracemalloc.start()
    rank_models(ratings, config)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"traced_peak_mib": peak / 2**20}


def run_child(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, f"--child={mode}"]
    for name in ("ratings", "prompts", "models", "replicas", "repeats", "seed"):
        command.append(f"--{name}={getattr(args, name)}")
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def fastchat_fit(
    a: np.ndarray, b: np.ndarray, outcome: np.ndarray, n_models: int, *, dense: bool
) -> np.ndarray:
    """FastChat's compute_mle_elo: duplicated battles, a tie is one win and one loss."""
    n = len(a)
    rows = np.arange(2 * n)
    log_base = math.log(10.0)
    design: Any
    if dense:
        # As published: a dense (2n x models) float64 matrix.
        design = np.zeros((2 * n, n_models))
        design[rows, np.r_[a, a]] = log_base
        design[rows, np.r_[b, b]] = -log_base
    else:
        design = sparse.csr_matrix(
            (
                np.r_[np.full(2 * n, log_base), np.full(2 * n, -log_base)],
                (np.r_[rows, rows], np.r_[a, a, b, b]),
            ),
            shape=(2 * n, n_models),
        )
    labels = np.r_[(outcome >= 0.5), (outcome == 1.0)].astype(int)
    model = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-6)
    model.fit(design, labels)
    elo = 400.0 * model.coef_[0]
    return np.asarray(elo - elo.mean() + 1000.0)


def bt_loss(
    beta: np.ndarray, i: np.ndarray, j: np.ndarray, total: np.ndarray, win: np.ndarray, ridge: float
) -> tuple[float, np.ndarray]:
    """Negative penalised log-likelihood and gradient on weighted pair rows."""
    diff = beta[i] - beta[j]
    small = np.exp(-np.abs(diff))
    prob = np.where(diff >= 0, 1.0 / (1.0 + small), small / (1.0 + small))
    softplus = np.maximum(diff, 0.0) + np.log1p(small)
    value = -(win @ diff - total @ softplus) + 0.5 * ridge * beta @ beta
    residual = win - total * prob
    m = len(beta)
    gradient = -(np.bincount(i, residual, m) - np.bincount(j, residual, m)) + ridge * beta
    return float(value), gradient


def lbfgs(
    start: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    total: np.ndarray,
    win: np.ndarray,
    ridge: float,
) -> np.ndarray:
    # Same precision target as the engine (1e-6 in beta): a gradient entry of about the
    # per-model information (total weight * 2 / m * 1/4) times 1e-6.
    gtol = 1e-6 * 0.5 * total.sum() / len(start)
    result = minimize(
        bt_loss,
        start,
        args=(i, j, total, win, ridge),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": gtol, "ftol": 1e-12, "maxiter": 10_000},
    )
    beta = result.x - result.x.mean()
    return np.asarray(beta)


class EngineClock:
    """Times the engine in this process between baseline replicas, so both see the same load."""

    def __init__(self, ratings: pd.DataFrame, comparisons: Comparisons, config: RankingConfig):
        self.ratings, self.comparisons, self.config = ratings, comparisons, config
        self.from_frame: list[float] = []
        self.from_cells: list[float] = []

    def tick(self) -> None:
        start = time.perf_counter()
        rank_models(self.ratings, self.config)
        self.from_frame.append(time.perf_counter() - start)
        start = time.perf_counter()
        rank_models(self.comparisons, self.config)
        self.from_cells.append(time.perf_counter() - start)


def baselines(args: argparse.Namespace, ratings: pd.DataFrame) -> dict[str, Any]:
    comparisons = Comparisons.from_ratings(ratings)
    fit = fit_bradley_terry(comparisons)
    engine_elo = fit.elo
    clock = EngineClock(ratings, comparisons, RankingConfig(replicas=args.replicas, seed=args.seed))
    clock.tick()
    m = comparisons.n_models
    a = ratings.model_a.to_numpy()
    b = ratings.model_b.to_numpy()
    outcome = ratings.outcome.to_numpy()

    # FastChat: full-data fit for the point estimate, then a few timed bootstrap replicas.
    results: dict[str, Any] = {}
    for variant in ("dense", "sparse"):
        point = fastchat_fit(a, b, outcome, m, dense=variant == "dense")
        rng = np.random.default_rng(args.seed)
        times = []
        for _ in range(args.sklearn_replicas):
            start = time.perf_counter()
            pick = rng.integers(0, len(ratings), len(ratings))
            fastchat_fit(a[pick], b[pick], outcome[pick], m, dense=variant == "dense")
            times.append(time.perf_counter() - start)
            clock.tick()
        results[f"sklearn_{variant}"] = {"times": times, "point_diff": _diff(point, engine_elo)}

    # Aggregated (prompt, pair) rows, built once outside the timing.
    m_sq = m * m
    key = comparisons.prompt * m_sq + comparisons.model_i * m + comparisons.model_j
    rows, inverse = np.unique(key, return_inverse=True)
    row_total = np.bincount(inverse, comparisons.weight)
    row_win = np.bincount(inverse, comparisons.weight * comparisons.outcome)
    row_prompt, rest = np.divmod(rows, m_sq)
    row_i, row_j = np.divmod(rest, m)
    point = lbfgs(np.zeros(m), row_i, row_j, row_total, row_win, fit.ridge)
    lbfgs_point_diff = _diff(1000.0 + ELO_SCALE * point, engine_elo)

    replicas = args.lbfgs_replicas
    engine = bootstrap_strengths(comparisons, fit, replicas=replicas, seed=args.seed)
    picked = np.random.default_rng(args.seed).integers(
        0, comparisons.n_prompts, size=(replicas, comparisons.n_prompts), dtype=np.uint32
    )
    row_times, pair_times, row_diff, pair_diff = [], [], 0.0, 0.0
    pair_key = row_i * m + row_j
    pairs, pair_of_row = np.unique(pair_key, return_inverse=True)
    pair_i, pair_j = np.divmod(pairs, m)
    for replica in range(replicas):
        engine_replica = 1000.0 + ELO_SCALE * engine.beta[replica]
        start = time.perf_counter()
        multiplicity = np.bincount(picked[replica], minlength=comparisons.n_prompts)[row_prompt]
        beta = lbfgs(
            fit.beta, row_i, row_j, row_total * multiplicity, row_win * multiplicity, fit.ridge
        )
        row_times.append(time.perf_counter() - start)
        row_diff = max(row_diff, _diff(1000.0 + ELO_SCALE * beta, engine_replica))
        start = time.perf_counter()
        multiplicity = np.bincount(picked[replica], minlength=comparisons.n_prompts)[row_prompt]
        total = np.bincount(pair_of_row, row_total * multiplicity, len(pairs))
        win = np.bincount(pair_of_row, row_win * multiplicity, len(pairs))
        beta = lbfgs(fit.beta, pair_i, pair_j, total, win, fit.ridge)
        pair_times.append(time.perf_counter() - start)
        pair_diff = max(pair_diff, _diff(1000.0 + ELO_SCALE * beta, engine_replica))
        clock.tick()
    results["lbfgs_rows"] = {
        "times": row_times,
        "point_diff": lbfgs_point_diff,
        "replica_diff": row_diff,
    }
    results["lbfgs_pairs"] = {"times": pair_times, "replica_diff": pair_diff}
    results["engine_frame"] = clock.from_frame
    results["engine_cells"] = clock.from_cells
    return results


def _diff(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.abs(np.asarray(first) - np.asarray(second)).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--prompts", type=int, default=1_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=5, help="timed engine runs in the child")
    parser.add_argument("--sklearn-replicas", type=int, default=3)
    parser.add_argument("--lbfgs-replicas", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--child", choices=["engine", "tracemalloc"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "engine":
        print(json.dumps(engine_child(args)))
        return
    if args.child == "tracemalloc":
        print(json.dumps(tracemalloc_child(args)))
        return

    engine = run_child("engine", args)
    traced = run_child("tracemalloc", args)
    ratings, _ = simulate(args)
    compared = None if args.skip_baselines else baselines(args, ratings)

    def timing(samples: list[float]) -> str:
        return (
            f"best {min(samples):.2f} s, median {statistics.median(samples):.2f} s, "
            f"first {samples[0]:.2f} s"
        )

    print(
        f"## Ranking benchmark: {args.ratings:,} ratings, {args.prompts:,} prompts, "
        f"{args.models} models, {args.replicas:,} prompt-bootstrap replicas\n"
    )
    print(
        f"{engine['cells']:,} (prompt, pair, outcome) cells, {engine['pairs']:,} model pairs; "
        f"{os.cpu_count()} CPUs; numpy {np.__version__}. Engine times: {args.repeats} runs in a "
        "fresh child process (the first includes one-off page faults and caches).\n"
    )
    print("| what | time | notes |")
    print("|---|---|---|")
    print(
        f"| engine, raw ratings DataFrame -> leaderboard | {timing(engine['from_frame'])} | "
        f"validation, aggregation, fit, {args.replicas:,} replicas, ranks, win-rate matrices |"
    )
    print(
        f"| of which validation + aggregation | {timing(engine['ingest'])} | "
        "`Comparisons.from_ratings` |"
    )
    print(
        f"| engine, `Comparisons` -> leaderboard | {timing(engine['from_cells'])} | "
        "fit + intervals + ranks |"
    )
    print(
        f"| engine, DB counts ({engine['counts_rows']:,} rows) -> leaderboard | "
        f"{timing(engine['from_counts'])} | `Comparisons.from_counts` + `rank_models` |"
    )
    print(
        f"| peak RSS of the engine process | {engine['peak_rss_mib']:.0f} MiB | "
        f"{engine['rss_before_mib']:.0f} MiB resident before the first call "
        "(interpreter, libraries, input data) |"
    )
    print(
        f"| tracemalloc peak of one `rank_models` call | {traced['traced_peak_mib']:.0f} MiB | "
        "allocations made by the call itself |"
    )
    if compared is not None:
        replicas = args.replicas
        frame_best = min(compared["engine_frame"])
        cells_best = min(compared["engine_cells"])
        print(
            f"| engine again, timed between the baseline replicas below "
            f"({len(compared['engine_frame'])} runs) | raw frame best "
            f"{frame_best:.2f} s (median {statistics.median(compared['engine_frame']):.2f} s); "
            f"`Comparisons` best {cells_best:.2f} s "
            f"(median {statistics.median(compared['engine_cells']):.2f} s) "
            "| the ratios below use these best times and each baseline's best replica |"
        )
        variants = (("dense", "as published, dense design"), ("sparse", "sparse design"))
        for variant, label in variants:
            sk = compared[f"sklearn_{variant}"]
            best = min(sk["times"])
            print(
                f"| FastChat: sklearn refit on resampled battles ({label}), "
                f"{len(sk['times'])} replicas | {best:.2f} s/replica -> "
                f"{best * replicas:,.0f} s | {best * replicas / frame_best:,.0f}x the engine "
                f"(raw frame); point Elo within {sk['point_diff']:.3f} |"
            )
        rows = compared["lbfgs_rows"]
        best = min(rows["times"])
        print(
            f"| scipy L-BFGS per replica on (prompt, pair) rows, {len(rows['times'])} replicas | "
            f"{best:.3f} s/replica -> {best * replicas:,.0f} s "
            f"| {best * replicas / cells_best:,.0f}x the engine (`Comparisons`); "
            f"point Elo within {rows['point_diff']:.4f}, replica Elo within "
            f"{rows['replica_diff']:.4f} |"
        )
        pairs = compared["lbfgs_pairs"]
        best = min(pairs["times"])
        print(
            f"| scipy L-BFGS per replica on pair totals, {len(pairs['times'])} replicas | "
            f"{best:.4f} s/replica -> {best * replicas:,.1f} s "
            f"| {best * replicas / cells_best:,.1f}x the engine (`Comparisons`); "
            f"replica Elo within {pairs['replica_diff']:.4f} |"
        )
    print(
        f"\nEngine diagnostics: point fit {engine['fit_iterations']} Newton iterations, "
        f"{engine['not_converged']} replicas not converged."
    )


if __name__ == "__main__":
    main()
