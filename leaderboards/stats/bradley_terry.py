"""Bradley-Terry maximum likelihood on pair totals, solved by Newton steps batched over replicas.

Model: P(i beats j) = sigmoid(beta_i - beta_j). A tie counts as half a win each way, so the
log-likelihood of a pair with weighted total n and weighted wins w for model i is
w * log(sigmoid(d)) + (n - w) * log(sigmoid(-d)), d = beta_i - beta_j. The data enter only
through per-pair totals and per-model weighted wins, which is what lets the bootstrap solve
a thousand replicas as one batch of small dense problems.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal, TypeAlias

import numpy as np

from .data import BoolArray, Comparisons, FloatArray, IntArray, ModelId, sum_by, unique_codes
from .errors import DisconnectedComparisonGraphError, StatsConvergenceError, StatsInputError
from .graph import connected_components

Weighting: TypeAlias = Literal["none", "inverse_pair_frequency"]
WEIGHTINGS: tuple[Weighting, ...] = ("none", "inverse_pair_frequency")

ELO_BASE = 1000.0
ELO_SCALE = 400.0 / math.log(10.0)
DEFAULT_RIDGE = 1e-4
# The leaderboard's prior: every centred strength ~ N(0, sd^2) with sd = 500 Elo points, about
# 2.9 on the natural-log scale (Glicko starts an unknown player at 350; a looser prior keeps the
# bias on established models negligible). As a penalty it is the ridge 1 / sd^2.
DEFAULT_PRIOR_SD_ELO = 500.0
DEFAULT_TOLERANCE = 1e-6
DEFAULT_MAX_ITERATIONS = 100

# Dense (pairs x models) incidence matrices turn scatters into BLAS products; above this many
# entries they would cost more memory than the bincount scatter they replace.
_DENSE_INCIDENCE_LIMIT = 1 << 22
# Backtracking accepts a step unless it lowers the objective by more than rounding noise.
_RELATIVE_SLACK = 1e-12
_MAX_HALVINGS = 60


def prior_ridge(prior_sd_elo: float) -> float:
    """The ridge (penalty 1 / sd^2 on natural-log strengths) of a N(0, sd^2) prior given in Elo."""
    return float((ELO_SCALE / prior_sd_elo) ** 2)


def to_elo(beta: FloatArray) -> FloatArray:
    """Convert centred natural-log strengths to the Elo scale (1000 + 400 * beta / ln 10)."""
    return np.asarray(ELO_BASE + ELO_SCALE * beta, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class PairDesign:
    """The distinct model pairs compared, with scatters from per-pair to per-model arrays."""

    n_models: int
    pair_i: IntArray
    pair_j: IntArray

    @classmethod
    def from_cells(cls, comparisons: Comparisons) -> tuple[PairDesign, IntArray]:
        """Distinct pairs of a cell table, and the pair index of every cell."""
        m = comparisons.n_models
        pairs, cell_pair = unique_codes(comparisons.model_i * m + comparisons.model_j, m * m)
        pair_i, pair_j = np.divmod(pairs, m)
        design = cls(n_models=m, pair_i=pair_i.astype(np.int64), pair_j=pair_j.astype(np.int64))
        return design, cell_pair

    @property
    def n_pairs(self) -> int:
        """Number of distinct pairs."""
        return len(self.pair_i)

    @cached_property
    def _dense(self) -> bool:
        return self.n_pairs * self.n_models <= _DENSE_INCIDENCE_LIMIT

    @cached_property
    def _incidence(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        rows = np.arange(self.n_pairs)
        first = np.zeros((self.n_pairs, self.n_models))
        second = np.zeros((self.n_pairs, self.n_models))
        first[rows, self.pair_i] = 1.0
        second[rows, self.pair_j] = 1.0
        return second, first - second, first + second

    @cached_property
    def hessian_index(self) -> tuple[IntArray, IntArray, IntArray]:
        """Flat positions of (i, j), (j, i) and the diagonal in an m x m matrix."""
        m = self.n_models
        diagonal = np.arange(m, dtype=np.int64) * (m + 1)
        return self.pair_i * m + self.pair_j, self.pair_j * m + self.pair_i, diagonal

    def to_second(self, values: FloatArray) -> FloatArray:
        """Sum per-pair values onto the second model of each pair: (R, K) -> (R, m)."""
        if self._dense:
            return values @ self._incidence[0]
        return self._bincount(values, self.pair_j)

    def signed(self, values: FloatArray) -> FloatArray:
        """Add per-pair values to the first model and subtract them from the second."""
        if self._dense:
            return values @ self._incidence[1]
        return self._bincount(values, self.pair_i) - self._bincount(values, self.pair_j)

    def unsigned(self, values: FloatArray) -> FloatArray:
        """Add per-pair values to both models of each pair."""
        if self._dense:
            return values @ self._incidence[2]
        return self._bincount(values, self.pair_i) + self._bincount(values, self.pair_j)

    def _bincount(self, values: FloatArray, target: IntArray) -> FloatArray:
        rows = values.shape[0]
        flat = (np.arange(rows, dtype=np.int64)[:, None] * self.n_models + target).ravel()
        summed = sum_by(flat, values.ravel(), rows * self.n_models)
        return summed.reshape(rows, self.n_models)


def weighted_pair_totals(
    count: FloatArray, weight: FloatArray, weight_win: FloatArray, weighting: Weighting
) -> tuple[FloatArray, FloatArray]:
    """Per-pair weighted totals and wins of the first model, for arrays shaped (..., K).

    Inverse pair frequency gives every rating of a pair the weight 1 / (ratings of that pair),
    scaled so the weights add up to the number of ratings: every pair then counts equally,
    however often the scheduler happened to show it, while the likelihood keeps its usual size.
    """
    if weighting == "none":
        return weight, weight_win
    present = count > 0
    ratings = count.sum(axis=-1, keepdims=True)
    pairs = present.sum(axis=-1, keepdims=True)
    factor = np.divide(ratings, pairs * count, out=np.zeros_like(count), where=present)
    return weight * factor, weight_win * factor


@dataclass(frozen=True, eq=False)
class NewtonResult:
    """Solutions of a batch of Bradley-Terry problems."""

    beta: FloatArray
    iterations: IntArray
    converged: BoolArray


def solve_bradley_terry(
    totals: FloatArray,
    scores: FloatArray,
    design: PairDesign,
    *,
    ridge: float,
    start: FloatArray,
    tolerance: float = DEFAULT_TOLERANCE,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
) -> NewtonResult:
    """Maximise the ridge-penalised likelihood for R problems at once: totals (R, K), scores (R, m).

    `scores` are weighted wins per model. The ridge (lambda / 2) * |beta|^2 keeps an
    undefeated model finite and, because the likelihood only sees differences, also fixes
    the gauge at sum(beta) = 0. A problem stops after a Newton step below `tolerance` in
    every coordinate, or after one below sqrt(tolerance) whose ratio to the previous step
    shows quadratic convergence predicting a next step below `tolerance`; the final step is
    taken, so the remaining error is far below `tolerance`.
    """
    totals = np.atleast_2d(np.asarray(totals, dtype=np.float64))
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    n_problems, m = scores.shape
    beta = np.array(np.broadcast_to(start, (n_problems, m)), dtype=np.float64)
    beta -= beta.mean(axis=1, keepdims=True)
    linear = scores - design.to_second(totals)
    result = beta.copy()
    iterations = np.zeros(n_problems, dtype=np.int64)
    converged = np.zeros(n_problems, dtype=np.bool_)

    rows = np.arange(n_problems)
    previous = np.full(n_problems, np.inf)
    for iteration in range(1, max_iterations + 1):
        if rows.size == 0:
            break
        step = _newton_step(beta, totals, linear, design, ridge)
        size = np.abs(step).max(axis=1)
        candidate = beta + step
        risky = np.flatnonzero(size > _SAFE_STEP)
        if risky.size:
            candidate[risky] = _backtrack(
                beta[risky], step[risky], totals[risky], linear[risky], design, ridge
            )
        beta = candidate
        iterations[rows] = iteration
        # Newton's error contracts as e' ~ C e^2; two successive steps estimate C, so a small
        # step whose predicted successor (size^3 / previous^2) is below tolerance is the last.
        done = (size < tolerance) | (
            (size < math.sqrt(tolerance)) & (size**3 < tolerance * previous**2)
        )
        previous = size
        if done.any():
            result[rows[done]] = beta[done]
            converged[rows[done]] = True
            keep = ~done
            rows, beta, totals, linear = rows[keep], beta[keep], totals[keep], linear[keep]
            previous = previous[keep]
    result[rows] = beta
    result -= result.mean(axis=1, keepdims=True)
    return NewtonResult(beta=result, iterations=iterations, converged=converged)


# Why most steps skip the line search: along a step, each pair's curvature n p (1 - p) changes
# by at most a factor exp(|change in beta_i - beta_j|) <= exp(2 * max|step|), because
# |d log(p (1 - p)) / dd| <= 1. While that factor stays below 2 a full Newton step provably
# lowers the objective, so only steps larger than ln(2) / 2 (warm-started bootstrap replicas
# never get near it) pay for evaluating the objective.
_SAFE_STEP = 0.3


def _pair_terms(
    beta: FloatArray, totals: FloatArray, design: PairDesign
) -> tuple[FloatArray, FloatArray, FloatArray]:
    # n * p, n * p * (1 - p) and exp(-|d|), all from one exp(-|d|) so nothing overflows.
    # np.take keeps the result C-ordered; beta[:, index] would not, and every later
    # elementwise operation mixing the two layouts runs several times slower.
    diff = np.take(beta, design.pair_i, axis=1)
    diff -= np.take(beta, design.pair_j, axis=1)
    small = np.abs(diff)
    np.negative(small, out=small)
    np.exp(small, out=small)
    inverse = small + 1.0
    np.reciprocal(inverse, out=inverse)
    lesser = small * inverse
    expected = np.where(diff >= 0.0, inverse, lesser)
    expected *= totals
    lesser *= inverse
    lesser *= totals
    return expected, lesser, diff


def _objective(
    beta: FloatArray, totals: FloatArray, linear: FloatArray, design: PairDesign, ridge: float
) -> FloatArray:
    # log L = sum_i linear_i beta_i - sum_k n_k softplus(beta_i - beta_j), minus the ridge.
    diff = np.take(beta, design.pair_i, axis=1) - np.take(beta, design.pair_j, axis=1)
    softplus = np.maximum(diff, 0.0) + np.log1p(np.exp(-np.abs(diff)))
    return np.asarray(
        np.einsum("rm,rm->r", linear, beta)
        - np.einsum("rk,rk->r", totals, softplus)
        - 0.5 * ridge * np.einsum("rm,rm->r", beta, beta),
        dtype=np.float64,
    )


def _backtrack(
    beta: FloatArray,
    step: FloatArray,
    totals: FloatArray,
    linear: FloatArray,
    design: PairDesign,
    ridge: float,
) -> FloatArray:
    # Halve each problem's step until the objective does not fall (beyond rounding noise).
    current = _objective(beta, totals, linear, design, ridge)
    slack = _RELATIVE_SLACK * (1.0 + np.abs(current))
    candidate = beta + step
    pending = np.arange(len(beta))
    scale = 1.0
    for _ in range(_MAX_HALVINGS):
        value = _objective(candidate[pending], totals[pending], linear[pending], design, ridge)
        pending = pending[value < current[pending] - slack[pending]]
        if pending.size == 0:
            break
        scale *= 0.5
        candidate[pending] = beta[pending] + scale * step[pending]
    return candidate


def _newton_step(
    beta: FloatArray,
    totals: FloatArray,
    linear: FloatArray,
    design: PairDesign,
    ridge: float,
) -> FloatArray:
    n_problems, m = beta.shape
    expected, curvature, _ = _pair_terms(beta, totals, design)
    gradient = linear - design.signed(expected) - ridge * beta
    diagonal = design.unsigned(curvature) + ridge
    # The likelihood is flat along 11^T; adding c/m * 11^T (c = mean curvature) makes each
    # system well conditioned without changing a step whose gradient is orthogonal to 1.
    shift = diagonal.mean(axis=1, keepdims=True) / m
    at_ij, at_ji, at_diagonal = design.hessian_index
    hessian = np.empty((n_problems, m * m))
    hessian[...] = shift
    off_diagonal = shift - curvature
    hessian[:, at_ij] = off_diagonal
    hessian[:, at_ji] = off_diagonal
    hessian[:, at_diagonal] = diagonal + shift
    step = np.linalg.solve(hessian.reshape(n_problems, m, m), gradient[:, :, None])[:, :, 0]
    return np.asarray(step - step.mean(axis=1, keepdims=True), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class BradleyTerryFit:
    """Point estimate on one cell table: centred strengths plus the pair data they came from."""

    models: tuple[ModelId, ...]
    beta: FloatArray
    design: PairDesign
    cell_pair: IntArray
    pair_count: FloatArray
    pair_total: FloatArray
    pair_win: FloatArray
    weighting: Weighting
    ridge: float
    iterations: int

    @property
    def elo(self) -> FloatArray:
        """Elo ratings, centred so their mean is 1000."""
        return to_elo(self.beta)

    @property
    def pair_factor(self) -> FloatArray:
        """Weight multiplier applied to each rating of a pair (1 when unweighted)."""
        if self.weighting == "none":
            return np.ones(self.design.n_pairs)
        ratings = self.pair_count.sum()
        return np.asarray(ratings / (self.design.n_pairs * self.pair_count), dtype=np.float64)

    def predicted_win_rate(self) -> FloatArray:
        """P(row model beats column model) under the fit; NaN on the diagonal."""
        diff = self.beta[:, None] - self.beta[None, :]
        rate = 0.5 * (1.0 + np.tanh(0.5 * diff))
        np.fill_diagonal(rate, np.nan)
        return np.asarray(rate, dtype=np.float64)


def check_connected(comparisons: Comparisons) -> None:
    """Raise DisconnectedComparisonGraphError unless positive-weight ratings link every model."""
    used = comparisons.weight > 0
    m = comparisons.n_models
    groups = connected_components(m, comparisons.model_i[used], comparisons.model_j[used])
    if len(groups) > 1:
        raise DisconnectedComparisonGraphError(
            [[comparisons.models[int(code)] for code in group] for group in groups]
        )


def fit_bradley_terry(
    comparisons: Comparisons,
    *,
    weighting: Weighting = "none",
    ridge: float = DEFAULT_RIDGE,
    tolerance: float = DEFAULT_TOLERANCE,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
) -> BradleyTerryFit:
    """Fit Bradley-Terry strengths to every model in `comparisons` (no filtering, no intervals)."""
    if weighting not in WEIGHTINGS:
        raise StatsInputError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    if not (math.isfinite(ridge) and ridge > 0):
        raise StatsInputError(f"ridge must be a positive number, got {ridge!r}")
    if comparisons.n_models < 2:
        raise StatsInputError("need at least two models to fit")
    check_connected(comparisons)
    design, cell_pair = PairDesign.from_cells(comparisons)
    k = design.n_pairs
    count = sum_by(cell_pair, comparisons.count, k)
    weight = sum_by(cell_pair, comparisons.weight, k)
    weight_win = sum_by(cell_pair, comparisons.weight * comparisons.outcome, k)
    total, win = weighted_pair_totals(count, weight, weight_win, weighting)
    scores = design.to_second(total[None, :]) + design.signed(win[None, :])
    solved = solve_bradley_terry(
        total[None, :],
        scores,
        design,
        ridge=ridge,
        start=np.zeros(comparisons.n_models),
        tolerance=tolerance,
        max_iterations=max_iterations,
    )
    if not solved.converged[0]:
        raise StatsConvergenceError(
            f"Bradley-Terry fit did not converge in {max_iterations} Newton iterations"
        )
    return BradleyTerryFit(
        models=comparisons.models,
        beta=solved.beta[0],
        design=design,
        cell_pair=cell_pair,
        pair_count=count,
        pair_total=total,
        pair_win=win,
        weighting=weighting,
        ridge=ridge,
        iterations=int(solved.iterations[0]),
    )
