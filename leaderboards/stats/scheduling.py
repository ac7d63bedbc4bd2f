"""Adaptive pair selection: which comparisons most reduce the uncertainty that matters.

The board's uncertainty is modelled by the Bradley-Terry posterior's Gaussian approximation
(information matrix = weighted graph Laplacian of the ratings plus the prior's ridge). Each
candidate comparison of models i and j adds `w = e * p_ij * (1 - p_ij)` information along
`e_i - e_j`, where `e` is the information one comparison's correlated ratings carry, in
independent ratings. A greedy loop picks the candidate with the largest gain, applies its
rank-one update to the covariance, and repeats: every pick sees the picks before it, so the
same pair is not piled on once it stops paying.

What the gain counts (log-variance reductions, each floored at the precision that suffices):
- the centred strength of each model still under evaluation, down to the target half-width;
- the difference of neighbouring models (by strength) whose intervals overlap, down to the
  variance at which their gap would separate them (never below `resolution` Elo), weighted
  `neighbour_weight` when a model under evaluation is one of them, else `background_weight`.
Comparisons already scheduled but not rated yet count as information to come, so a rerun does
not schedule the same thing again. Pure numpy; imports nothing of the project.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .bradley_terry import ELO_SCALE, prior_ridge
from .data import BoolArray, FloatArray, IntArray
from .errors import StatsInputError
from .intervals import normal_quantile

MIN_GAIN = 1e-9


@dataclass(frozen=True)
class SelectionConfig:
    """The selection's parameters: precision target, rating correlation, weights, limits."""

    target_half_width: float = 20.0
    confidence: float = 0.95
    prior_sd: float = 500.0
    ratings_per_comparison: int = 3
    # Three raters of one comparison see the same pair of answers, so together they carry less
    # than three independent ratings; 1.5 is an assumption. It scales every information alike,
    # so it moves the precision floors (when to stop picking), hardly the order of the picks.
    effective_ratings_per_comparison: float = 1.5
    # Weights of the overlapping-neighbour contrasts, beside 1 for each target's precision.
    # bench/bench_scheduling.py (30 models over 1000 Elo, 24 paired trials): 0.2 and 0 cost the
    # same ratings to ±20 Elo (paired difference 0 ± 38 ratings, about 19% fewer than count
    # balancing either way), and neither's effect on the neighbour order is measurable at that
    # many trials; at 1.0 the picks crowded onto the two adjacent models and precision suffered
    # (-18% in a 4-trial run). Neighbours that involve no model under evaluation are off by
    # default: they would spend the budget on the old board.
    neighbour_weight: float = 0.2
    background_weight: float = 0.0
    # Neighbours closer than this (Elo) are not worth separating: they count as tied.
    resolution: float = 10.0
    # Credit a candidate with p(1 - p) averaged over the posterior of its strength gap, not at
    # the point estimate: early on, a newcomer's estimate from the seed is rough. Measured
    # neutral in the bench (paired difference +48 ± 39 ratings over 24 trials, noise), where
    # even a selection fed the true strengths does no better: it guards the worst case.
    expected_information: bool = True
    newton_iterations: int = 50

    def __post_init__(self) -> None:
        for name in ("target_half_width", "prior_sd", "effective_ratings_per_comparison"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise StatsInputError(f"{name} must be a positive number, got {value!r}")
        if not 0 < self.confidence < 1:
            raise StatsInputError(f"confidence must be in (0, 1), got {self.confidence!r}")
        if self.ratings_per_comparison < 1:
            raise StatsInputError("ratings_per_comparison must be at least 1")


@dataclass(frozen=True, eq=False)
class PairRecord:
    """Per model-pair totals: ratings done (points of i, count) and ratings still to come."""

    pair_i: IntArray
    pair_j: IntArray
    points_i: FloatArray
    ratings: FloatArray
    pending: FloatArray


@dataclass(frozen=True, eq=False)
class Posterior:
    """MAP strengths (natural log, centred) and their Gaussian-approximation covariance."""

    beta: FloatArray
    covariance: FloatArray

    @property
    def standard_error_elo(self) -> FloatArray:
        """Each centred strength's standard error, in Elo points."""
        n = len(self.beta)
        centre = np.eye(n) - 1.0 / n
        var = np.einsum("ij,jk,ik->i", centre, self.covariance, centre)
        return np.asarray(ELO_SCALE * np.sqrt(np.clip(var, 0.0, None)), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Selection:
    """The picked comparisons: (i, j) model codes, one row per comparison, in pick order."""

    pair_i: IntArray
    pair_j: IntArray
    gains: FloatArray
    posterior: Posterior
    open_contrasts: int = 0
    notes: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pair_i)


def pair_record(
    *,
    n_models: int,
    pair_i: npt.ArrayLike,
    pair_j: npt.ArrayLike,
    points_i: npt.ArrayLike,
    ratings: npt.ArrayLike,
    pending: npt.ArrayLike | None = None,
) -> PairRecord:
    """Validate per-pair totals and fold (j, i) rows into canonical (i < j) ones."""
    a = np.asarray(pair_i, dtype=np.int64)
    b = np.asarray(pair_j, dtype=np.int64)
    points = np.asarray(points_i, dtype=np.float64)
    total = np.asarray(ratings, dtype=np.float64)
    todo = np.zeros(len(a)) if pending is None else np.asarray(pending, dtype=np.float64)
    if not (len(a) == len(b) == len(points) == len(total) == len(todo)):
        raise StatsInputError("pair arrays must have the same length")
    if len(a) and (a.min() < 0 or b.min() < 0 or max(a.max(), b.max()) >= n_models):
        raise StatsInputError("pair codes must lie in 0..n_models-1")
    if np.any(a == b):
        raise StatsInputError("a pair needs two different models")
    if np.any(points < 0) or np.any(points > total) or np.any(todo < 0):
        raise StatsInputError("points must lie in 0..ratings and pending must be >= 0")
    swap = a > b
    lo, hi = np.where(swap, b, a), np.where(swap, a, b)
    points = np.where(swap, total - points, points)
    key = lo * n_models + hi
    unique, inverse = np.unique(key, return_inverse=True)
    k = len(unique)
    return PairRecord(
        pair_i=unique // n_models,
        pair_j=unique % n_models,
        points_i=np.bincount(inverse, points, minlength=k).astype(np.float64),
        ratings=np.bincount(inverse, total, minlength=k).astype(np.float64),
        pending=np.bincount(inverse, todo, minlength=k).astype(np.float64),
    )


def _laplacian(n: int, i: IntArray, j: IntArray, weight: FloatArray) -> FloatArray:
    matrix = np.zeros((n, n))
    np.add.at(matrix, (i, i), weight)
    np.add.at(matrix, (j, j), weight)
    np.add.at(matrix, (i, j), -weight)
    np.add.at(matrix, (j, i), -weight)
    return matrix


def posterior_fit(n_models: int, record: PairRecord, config: SelectionConfig) -> Posterior:
    """MAP Bradley-Terry strengths with the prior, and the covariance of the ratings to come."""
    ridge = prior_ridge(config.prior_sd)
    # One rating carries `e / r` of an independent one: the raters of a comparison agree.
    scale = config.effective_ratings_per_comparison / config.ratings_per_comparison
    beta = np.zeros(n_models)
    i, j = record.pair_i, record.pair_j
    for _ in range(config.newton_iterations):
        p = 1.0 / (1.0 + np.exp(-(beta[i] - beta[j])))
        residual = record.points_i - record.ratings * p
        gradient = np.zeros(n_models)
        np.add.at(gradient, i, residual)
        np.add.at(gradient, j, -residual)
        gradient -= ridge * beta
        hessian = _laplacian(n_models, i, j, record.ratings * p * (1 - p))
        hessian[np.diag_indices(n_models)] += ridge
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if float(np.max(np.abs(step), initial=0.0)) < 1e-8:
            break
    beta = beta - beta.mean()
    p = 1.0 / (1.0 + np.exp(-(beta[i] - beta[j])))
    info = _laplacian(n_models, i, j, scale * (record.ratings + record.pending) * p * (1 - p))
    info[np.diag_indices(n_models)] += ridge
    return Posterior(beta=beta, covariance=np.asarray(np.linalg.inv(info), dtype=np.float64))


def comparisons_select(
    *,
    n_models: int,
    record: PairRecord,
    targets: BoolArray,
    candidate_i: IntArray,
    candidate_j: IntArray,
    candidate_capacity: IntArray,
    limit: int,
    config: SelectionConfig | None = None,
) -> Selection:
    """Pick up to `limit` comparisons among the candidates (each pair at most its capacity)."""
    config = config or SelectionConfig()
    posterior = posterior_fit(n_models, record, config)
    targets = np.asarray(targets, dtype=bool)
    if targets.shape != (n_models,):
        raise StatsInputError("targets must have one flag per model")
    ci = np.asarray(candidate_i, dtype=np.int64)
    cj = np.asarray(candidate_j, dtype=np.int64)
    capacity = np.asarray(candidate_capacity, dtype=np.int64).copy()
    if not (len(ci) == len(cj) == len(capacity)):
        raise StatsInputError("candidate arrays must have the same length")
    if limit <= 0 or len(ci) == 0 or n_models < 2:
        return _empty(posterior)
    beta = posterior.beta
    sigma = posterior.covariance.copy()
    z = normal_quantile(config.confidence)
    se = posterior.standard_error_elo / ELO_SCALE
    contrasts, floors, weights = _contrasts(beta, se, targets, z, config)
    if len(contrasts) == 0:
        return _empty(posterior)
    # Candidates that touch no contrast's models would still shift a centred contrast a little;
    # they are kept (the gain decides), but pairs with no capacity are dropped up front.
    keep = capacity > 0
    # Only pairs that touch a model of some contrast: the rest move a centred contrast by the
    # centring alone, and skipping them keeps the run fast at 100 models.
    support = np.zeros(n_models, dtype=bool)
    support[np.flatnonzero(np.abs(contrasts).max(axis=0) > 0.5)] = True
    keep &= support[ci] | support[cj]
    ci, cj, capacity = ci[keep], cj[keep], capacity[keep]
    if len(ci) == 0:
        return _empty(posterior)
    w = config.effective_ratings_per_comparison * _expected_information(
        beta[ci] - beta[cj],
        sigma[ci, ci] + sigma[cj, cj] - 2.0 * sigma[ci, cj] if config.expected_information else 0,
    )
    a_matrix = contrasts @ sigma  # m x n
    variance = np.einsum("mn,mn->m", a_matrix, contrasts)
    log_floor = np.log(floors)

    def gains_of(columns: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Gain, variance reductions (m x k) and d'Sigma d of the given candidate columns."""
        a, b = ci[columns], cj[columns]
        u = a_matrix[:, a] - a_matrix[:, b]
        s = sigma[a, a] + sigma[b, b] - 2.0 * sigma[a, b]
        reduction = (w[columns] / (1.0 + w[columns] * s))[None, :] * u * u
        after = np.maximum(variance[:, None] - reduction, 1e-300)
        before = np.log(np.maximum(variance, floors))
        gain = weights @ (before[:, None] - np.maximum(np.log(after), log_floor[:, None]))
        return gain, u, s

    everything = np.arange(len(ci))
    picked_i: list[int] = []
    picked_j: list[int] = []
    gains: list[float] = []
    # Exact greedy: every candidate's gain is recomputed after each pick. The candidates are
    # only pairs touching a contrast's models, so this is (contrasts x candidates) per pick.
    while len(picked_i) < limit:
        gain_all, u_all, s_all = gains_of(everything)
        gain_all[capacity <= 0] = -1.0
        best = int(np.argmax(gain_all))
        if gain_all[best] <= MIN_GAIN:
            break
        gain, u, s = gain_all[[best]], u_all[:, [best]], s_all[[best]]
        i, j = int(ci[best]), int(cj[best])
        sd = sigma[:, i] - sigma[:, j]
        factor = float(w[best] / (1.0 + w[best] * s[0]))
        sigma -= factor * np.outer(sd, sd)
        a_matrix -= factor * np.outer(u[:, 0], sd)
        variance = np.einsum("mn,mn->m", a_matrix, contrasts)
        capacity[best] -= 1
        picked_i.append(i)
        picked_j.append(j)
        gains.append(float(gain[0]))
    open_contrasts = int(np.sum(variance > floors * (1 + 1e-9)))
    return Selection(
        pair_i=np.asarray(picked_i, dtype=np.int64),
        pair_j=np.asarray(picked_j, dtype=np.int64),
        gains=np.asarray(gains, dtype=np.float64),
        posterior=posterior,
        open_contrasts=open_contrasts,
    )


def _expected_information(difference: FloatArray, variance: FloatArray | float) -> FloatArray:
    """Mean of p(1 - p) over a N(difference, variance) strength gap (probit approximation).

    A pair whose gap is still unsure (a newcomer with few ratings) is not credited with the
    information of a coin flip just because the point estimate says they are close."""
    kappa = np.sqrt(1.0 + np.pi * np.clip(variance, 0.0, None) / 8.0)
    p = 1.0 / (1.0 + np.exp(-difference / kappa))
    return np.asarray(p * (1.0 - p) / kappa, dtype=np.float64)


def _empty(posterior: Posterior) -> Selection:
    """A selection of nothing."""
    none = np.zeros(0, dtype=np.int64)
    return Selection(pair_i=none, pair_j=none, gains=np.zeros(0), posterior=posterior)


def _contrasts(
    beta: FloatArray,
    se: FloatArray,
    targets: BoolArray,
    z: float,
    config: SelectionConfig,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The contrasts that matter, each with its sufficient variance and its weight."""
    n = len(beta)
    rows: list[FloatArray] = []
    floors: list[float] = []
    weights: list[float] = []
    target_sd = config.target_half_width / (z * ELO_SCALE)
    for t in np.flatnonzero(targets):
        row = np.full(n, -1.0 / n)
        row[t] += 1.0
        rows.append(row)
        floors.append(target_sd**2)
        weights.append(1.0)
    order = np.argsort(-beta, kind="stable")
    resolution = config.resolution / ELO_SCALE
    for upper, lower in itertools.pairwise(order):
        gap = float(beta[upper] - beta[lower])
        if gap >= z * (se[upper] + se[lower]):
            continue  # the intervals already separate them
        involved = bool(targets[upper] or targets[lower])
        weight = config.neighbour_weight if involved else config.background_weight
        if weight <= 0:
            continue
        row = np.zeros(n)
        row[upper], row[lower] = 1.0, -1.0
        rows.append(row)
        floors.append((max(gap, resolution) / z) ** 2)
        weights.append(weight)
    if not rows:
        return np.zeros((0, n)), np.zeros(0), np.zeros(0)
    return np.vstack(rows), np.asarray(floors), np.asarray(weights)


@dataclass(frozen=True)
class BoardLine:
    """One model's published interval (Elo)."""

    model: int
    elo: float
    lower: float
    upper: float


def stopping_reason(*, model: int, board: list[BoardLine], target_half_width: float) -> str | None:
    """Why a model's evaluation is done ("precision" or "settled"), or None while it is not."""
    lines = sorted(board, key=lambda line: -line.elo)
    position = next((k for k, line in enumerate(lines) if line.model == model), None)
    if position is None:
        return None
    own = lines[position]
    if (own.upper - own.lower) / 2.0 <= target_half_width:
        return "precision"
    above = lines[position - 1] if position > 0 else None
    below = lines[position + 1] if position + 1 < len(lines) else None
    if above is None and below is None:
        return None
    if above is not None and own.upper >= above.lower:
        return None
    if below is not None and own.lower <= below.upper:
        return None
    return "settled"


def ratings_needed(*, half_width: float, target_half_width: float, ratings_done: int) -> int:
    """More ratings expected before the half-width reaches the target (width ~ 1/sqrt(n))."""
    if half_width <= target_half_width or ratings_done <= 0:
        return 0
    return math.ceil(ratings_done * ((half_width / target_half_width) ** 2 - 1.0))
