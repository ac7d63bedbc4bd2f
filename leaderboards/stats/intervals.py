"""Uncertainty of Bradley-Terry strengths: a batched cluster bootstrap and a sandwich estimate.

Ratings of one prompt are not independent (three annotators judge the same two answers, and a
prompt can be easy or hard for a model), so the resampling unit is the prompt. Each replica is
a vector of multinomial counts over prompts; its per-pair totals are one matrix product of
those counts with a (prompts x columns) matrix of per-prompt sums, and all replicas of a chunk
are then solved together by the batched Newton solver, warm-started at the point estimate.
Nothing is refitted on copied raw data.

Intervals are basic (pivotal) bootstrap intervals: [2 e - q(0.975), 2 e - q(0.025)] for the
estimate e and replica quantiles q. Percentile intervals [q(0.025), q(0.975)] repeat the
small-sample bias of the estimate instead of correcting it, and under-cover a model with few
prompts (88.0% for a new model with 15 ratings, against 95.0% for the basic interval from the
same replicas); the cluster sandwich under-covers there too. Per-scenario coverage of each is in
bench/bench_coverage.py and tests/leaderboards/stats/test_coverage.py. Replicas of a model
that lost rarely no longer run off to the ridge limit: the N(0, sd^2) prior holds them, and
such models are not ranked anyway (leaderboards/stats/ranking.py, `rankable_models`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal, TypeAlias

import numpy as np

from .bradley_terry import (
    DEFAULT_MAX_ITERATIONS,
    DEFAULT_TOLERANCE,
    BradleyTerryFit,
    PairDesign,
    solve_bradley_terry,
    weighted_pair_totals,
)
from .data import Comparisons, FloatArray, IntArray, sum_by
from .errors import StatsInputError

BootstrapInterval: TypeAlias = Literal["basic", "percentile"]
BOOTSTRAP_INTERVALS: tuple[BootstrapInterval, ...] = ("basic", "percentile")
ResampleUnit: TypeAlias = Literal["prompt", "rating"]
RESAMPLE_UNITS: tuple[ResampleUnit, ...] = ("prompt", "rating")

DEFAULT_MEMORY_BUDGET = 256 * 1024 * 1024
# Replicas per chunk: small enough that the per-chunk arrays stay in cache, large enough that
# the count x column product still runs at BLAS speed.
_MAX_CHUNK = 64
# The (units x columns) matrix is multiplied densely, in float32, when it is not too large
# and not too sparse; otherwise the product is done as a gather plus segmented sums.
_DENSE_ENTRY_LIMIT = 1 << 25
_DENSE_MAX_SPARSITY = 64


@dataclass(frozen=True, eq=False)
class BootstrapDraws:
    """Centred strengths of every replica, (replicas, models), and how many did not converge."""

    beta: FloatArray
    not_converged: int
    # counts @ `extra` per replica (replicas, columns), when the caller passed per-prompt columns.
    extra: FloatArray | None = None


@dataclass(frozen=True, eq=False)
class _Columns:
    """Per-unit contributions to the statistics a replica needs, as (unit, column, value).

    Entries may repeat a (unit, column); the products add them up.
    """

    n_units: int
    n_columns: int
    unit: IntArray
    column: IntArray
    value: FloatArray


def bootstrap_strengths(
    comparisons: Comparisons,
    fit: BradleyTerryFit,
    *,
    replicas: int,
    seed: int,
    unit: ResampleUnit = "prompt",
    tolerance: float = DEFAULT_TOLERANCE,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    extra: FloatArray | None = None,
) -> BootstrapDraws:
    """Refit `fit` on `replicas` resamples of prompts (or of single ratings) drawn with `seed`.

    A replica draws as many units as there are, uniformly with replacement, so its counts
    are multinomial. Replica r uses row r of Generator(seed).integers(0, n_units, size=(replicas,
    n_units), dtype=uint32), drawn chunk by chunk (uint32 draws make the chunking invisible);
    units are prompts in sorted order of their ids, or single ratings in cell order. So the
    same data, seed and replicas give the same numbers, whatever the row order of the input.
    Resampling single ratings treats the ratings of a prompt as independent; it exists to
    show how much that understates the uncertainty. `extra` (prompts, columns), prompt
    resampling only, is multiplied by every replica's prompt counts too (`BootstrapDraws.extra`):
    that is how the style-controlled view gets its replicas from these same draws.
    """
    if unit not in RESAMPLE_UNITS:
        raise StatsInputError(f"resample unit must be one of {RESAMPLE_UNITS}, got {unit!r}")
    if replicas < 1:
        raise StatsInputError(f"replicas must be at least 1, got {replicas}")
    design = fit.design
    columns = _unit_columns(comparisons, fit, unit)
    if extra is not None and (unit != "prompt" or extra.shape[0] != columns.n_units):
        raise StatsInputError(
            f"extra columns need one row per prompt ({columns.n_units}) and prompt resampling"
        )
    extra_sums = None if extra is None else np.empty((replicas, extra.shape[1]))
    if unit == "prompt":
        draw_owner = None
        n_draws = columns.n_units
    else:
        # Draw single ratings; a rating maps to its cell, which is the unit of the columns.
        draw_owner = np.repeat(np.arange(columns.n_units, dtype=np.int64), comparisons.count)
        n_draws = len(draw_owner)
    dense = (
        columns.n_units * columns.n_columns <= _DENSE_ENTRY_LIMIT
        and columns.n_units * columns.n_columns <= _DENSE_MAX_SPARSITY * len(columns.value)
    )
    product = _DenseProduct(columns) if dense else _SparseProduct(columns)
    m, k = design.n_models, design.n_pairs
    per_replica = (
        16 * n_draws
        + 12 * columns.n_units
        + 12 * columns.n_columns
        + (0 if dense else 8 * len(columns.value))
        + 8 * (10 * k + 3 * m * m)
    )
    chunk = max(1, min(_MAX_CHUNK, replicas, memory_budget // per_replica))

    beta = np.empty((replicas, m))
    not_converged = 0
    for start, counts in replica_counts(
        columns.n_units, replicas, seed, chunk=chunk, n_draws=n_draws, owner=draw_owner
    ):
        size = len(counts)
        sums = product(counts)
        if extra is not None and extra_sums is not None:
            extra_sums[start : start + size] = counts.astype(np.float64) @ extra
        totals, scores = _replica_totals(sums, design, fit)
        solved = solve_bradley_terry(
            totals,
            scores,
            design,
            ridge=fit.ridge,
            start=fit.beta,
            tolerance=tolerance,
            max_iterations=max_iterations,
        )
        beta[start : start + size] = solved.beta
        not_converged += int((~solved.converged).sum())
    return BootstrapDraws(beta=beta, not_converged=not_converged, extra=extra_sums)


def replica_counts(
    n_units: int,
    replicas: int,
    seed: int,
    *,
    chunk: int,
    n_draws: int | None = None,
    owner: IntArray | None = None,
) -> Iterator[tuple[int, IntArray]]:
    """The bootstrap's replica weights, chunk by chunk: (first replica, counts (size, n_units)).

    Replica r is row r of Generator(seed).integers(0, n_draws, size=(replicas, n_draws),
    dtype=uint32): multinomial counts of the units drawn (a draw maps to unit `owner[draw]`
    when given, else to itself). uint32 draws read whole 32-bit words from the generator, so
    the chunk size does not change them: every consumer of the same seed and units (the plain
    board, the style-controlled board) sees the same replicas.
    """
    draws_per_replica = n_units if n_draws is None else n_draws
    rng = np.random.default_rng(seed)
    draw_type = np.uint32 if draws_per_replica < 2**32 else np.int64
    for start in range(0, replicas, chunk):
        size = min(chunk, replicas - start)
        draws = rng.integers(0, draws_per_replica, size=(size, draws_per_replica), dtype=draw_type)
        units = draws.astype(np.int64) if owner is None else owner[draws]
        offsets = np.arange(size, dtype=np.int64)[:, None] * n_units
        counts = np.bincount((units + offsets).ravel(), minlength=size * n_units).reshape(
            size, n_units
        )
        yield start, counts


def prompt_replica_counts(
    n_prompts: int, replicas: int, seed: int, *, chunk: int
) -> Iterator[tuple[int, IntArray]]:
    """The prompt bootstrap's replica counts over `n_prompts` prompts (see `replica_counts`)."""
    return replica_counts(n_prompts, replicas, seed, chunk=chunk)


def _unit_columns(comparisons: Comparisons, fit: BradleyTerryFit, unit: ResampleUnit) -> _Columns:
    # Columns: unweighted -> pair totals (K) and weighted wins per model (m);
    # inverse pair frequency -> rating counts, weight sums and weighted wins per pair, since
    # the weights must be recomputed from each replica's own pair counts.
    k, m = fit.design.n_pairs, fit.design.n_models
    pair = fit.cell_pair
    weight = comparisons.weight
    win = weight * comparisons.outcome
    if fit.weighting == "none":
        column = np.concatenate([pair, k + comparisons.model_i, k + comparisons.model_j])
        value = np.concatenate([weight, win, weight - win])
        n_columns = k + m
        per_cell = 3
    elif np.array_equal(weight, comparisons.count):
        column = np.concatenate([pair, k + pair])
        value = np.concatenate([comparisons.count.astype(np.float64), win])
        n_columns = 2 * k
        per_cell = 2
    else:
        column = np.concatenate([pair, k + pair, 2 * k + pair])
        value = np.concatenate([comparisons.count.astype(np.float64), weight, win])
        n_columns = 3 * k
        per_cell = 3
    if unit == "prompt":
        owner = comparisons.prompt
        n_units = comparisons.n_prompts
    else:
        # One draw of a cell stands for one of its ratings, at the cell's mean weight.
        owner = np.arange(len(comparisons.count), dtype=np.int64)
        n_units = len(owner)
        value = value / np.tile(comparisons.count, per_cell)
    return _Columns(
        n_units=n_units,
        n_columns=n_columns,
        unit=np.tile(owner, per_cell),
        column=column,
        value=value,
    )


class _DenseProduct:
    """counts (R, U) @ X (U, Q) with X held dense in float32 (counts are exact in float32)."""

    def __init__(self, columns: _Columns) -> None:
        size = columns.n_units * columns.n_columns
        flat = sum_by(columns.unit * columns.n_columns + columns.column, columns.value, size)
        self._matrix = flat.astype(np.float32).reshape(columns.n_units, columns.n_columns)

    def __call__(self, counts: IntArray) -> FloatArray:
        return (counts.astype(np.float32) @ self._matrix).astype(np.float64)


class _SparseProduct:
    """counts (R, U) @ X (U, Q) for a sparse X: gather the counts, then sum per column."""

    def __init__(self, columns: _Columns) -> None:
        # Merge repeated (unit, column) entries; sorting by column then unit groups columns.
        key = columns.column * columns.n_units + columns.unit
        merged, inverse = np.unique(key, return_inverse=True)
        self._value = sum_by(inverse.ravel(), columns.value, len(merged))
        column, unit = np.divmod(merged, columns.n_units)
        self._unit = unit.astype(np.int64)
        self._starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
        self._present = column[self._starts]
        self._n_columns = columns.n_columns

    def __call__(self, counts: IntArray) -> FloatArray:
        gathered = np.take(counts, self._unit, axis=1) * self._value
        result = np.zeros((counts.shape[0], self._n_columns))
        result[:, self._present] = np.add.reduceat(gathered, self._starts, axis=1)
        return result


def _replica_totals(
    sums: FloatArray, design: PairDesign, fit: BradleyTerryFit
) -> tuple[FloatArray, FloatArray]:
    k = design.n_pairs
    if fit.weighting == "none":
        return sums[:, :k], sums[:, k:]
    count = sums[:, :k]
    weight = count if sums.shape[1] == 2 * k else sums[:, k : 2 * k]
    win = sums[:, -k:]
    total, weighted_win = weighted_pair_totals(count, weight, win, fit.weighting)
    scores = design.to_second(total) + design.signed(weighted_win)
    return total, scores


def sandwich_covariance(
    comparisons: Comparisons, fit: BradleyTerryFit, *, unit: ResampleUnit = "prompt"
) -> FloatArray:
    """Cluster-robust covariance of the centred strengths, clustered by prompt (or by rating).

    Cov = A^-1 M A^-1, with A the penalised Fisher information (plus c/m * 11^T, which leaves
    the sum-zero subspace alone) and M the summed outer products of per-cluster scores,
    scaled by G / (G - 1) for G clusters. Inverse-pair-frequency weights are taken as fixed
    here; the bootstrap recomputes them in every replica.
    """
    if unit not in RESAMPLE_UNITS:
        raise StatsInputError(f"resample unit must be one of {RESAMPLE_UNITS}, got {unit!r}")
    design = fit.design
    m = design.n_models
    beta = fit.beta
    cell_i, cell_j = comparisons.model_i, comparisons.model_j
    prob = 0.5 * (1.0 + np.tanh(0.5 * (beta[cell_i] - beta[cell_j])))
    factor = fit.pair_factor[fit.cell_pair]
    residual = comparisons.outcome - prob
    if unit == "prompt":
        clusters = comparisons.n_prompts
        score = factor * comparisons.weight * residual
        flat_i = comparisons.prompt * m + cell_i
        flat_j = comparisons.prompt * m + cell_j
        size = clusters * m
        per_cluster = (sum_by(flat_i, score, size) - sum_by(flat_j, score, size)).reshape(
            clusters, m
        )
        meat = per_cluster.T @ per_cluster
    else:
        clusters = comparisons.n_ratings
        squares = sum_by(
            fit.cell_pair, factor**2 * comparisons.weight_sq * residual**2, design.n_pairs
        )
        meat = _laplacian(squares, design)
    if clusters < 2:
        raise StatsInputError("a sandwich interval needs at least two clusters")
    meat *= clusters / (clusters - 1)
    pair_prob = 0.5 * (1.0 + np.tanh(0.5 * (beta[design.pair_i] - beta[design.pair_j])))
    information = _laplacian(fit.pair_total * pair_prob * (1.0 - pair_prob), design)
    information[np.diag_indices(m)] += fit.ridge
    information += np.trace(information) / (m * m)
    bread = np.linalg.inv(information)
    covariance = bread @ meat @ bread
    return np.asarray(0.5 * (covariance + covariance.T), dtype=np.float64)


def _laplacian(weights: FloatArray, design: PairDesign) -> FloatArray:
    m = design.n_models
    matrix = np.zeros((m, m))
    np.add.at(matrix, (design.pair_i, design.pair_j), -weights)
    np.add.at(matrix, (design.pair_j, design.pair_i), -weights)
    matrix[np.diag_indices(m)] -= matrix.sum(axis=1)
    return matrix


def percentile_interval(draws: FloatArray, confidence: float) -> tuple[FloatArray, FloatArray]:
    """Lower and upper percentile bounds per column of `draws` (replicas x models).

    numpy's default (linear interpolation) quantiles of the centred replica Elo.
    """
    tail = (1.0 - confidence) / 2.0
    lower, upper = np.quantile(draws, [tail, 1.0 - tail], axis=0)
    return np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)


def basic_interval(
    estimate: FloatArray, draws: FloatArray, confidence: float
) -> tuple[FloatArray, FloatArray]:
    """Basic (pivotal) bootstrap bounds: the percentile bounds reflected about the estimate."""
    lower, upper = percentile_interval(draws, confidence)
    return 2.0 * estimate - upper, 2.0 * estimate - lower


def bootstrap_interval(
    estimate: FloatArray, draws: FloatArray, confidence: float, *, kind: BootstrapInterval
) -> tuple[FloatArray, FloatArray]:
    """Bootstrap bounds of the chosen kind, "basic" or "percentile", per column of `draws`."""
    if kind not in BOOTSTRAP_INTERVALS:
        raise StatsInputError(
            f"bootstrap interval must be one of {BOOTSTRAP_INTERVALS}, got {kind!r}"
        )
    if kind == "basic":
        return basic_interval(estimate, draws, confidence)
    return percentile_interval(draws, confidence)


def normal_quantile(confidence: float) -> float:
    """Two-sided standard normal critical value, e.g. 1.95996 for 0.95."""
    return NormalDist().inv_cdf(0.5 + confidence / 2.0) if 0 < confidence < 1 else math.nan
