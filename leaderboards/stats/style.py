"""Style control: Bradley-Terry with covariates describing the style of the two answers.

Model: P(i beats j on a prompt) = sigmoid(beta_i - beta_j + gamma . x), where x holds, per
style feature f (answer length in tokens, Markdown headers, list items, bold spans, code
blocks), the normalised difference of the two answers (s_i - s_j) / (s_i + s_j) (0 when both
are 0), as LMArena's style control does ("Does style matter?", 2024), divided by its root mean
square over the board's ratings so each coefficient is per typical difference. Unlike LMArena
the differences are not centred: which answer is "i" is arbitrary, so a mean would only add an
orientation-dependent bias. A feature that never differs on the board is left out (its
coefficient is None). Ties count half a win each way, the same N(0, sd^2) prior as the plain
board holds the strengths, a negligible ridge the coefficients.

Intervals come from the same prompt bootstrap as the plain board: replica r weights every
prompt by row r of the engine's multinomial counts (Generator(seed).integers over the same
prompt coding, `intervals.prompt_replica_counts`), so the two boards resample the same prompts.
Each replica takes one Newton step from the full-data fit with its own score (a BLAS product of
the replica counts with per-prompt scores) and the full-data information; a full refit would
evaluate every (prompt, pair) row per replica and iteration (at 300,000 ratings about 25 s per
board against milliseconds). Intervals are basic bootstrap intervals like the plain board's.

What it controls for: the part of a preference that goes with these five measurable style
differences, averaged over the board. What it does not: anything else about style (tone,
structure beyond Markdown, emphasis by other means), and a style difference that really makes
an answer better is removed with the rest; the coefficients are associations, not causes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _json
from .bradley_terry import ELO_SCALE
from .data import FloatArray, IntArray, ModelId, sum_by, unique_codes
from .errors import StatsConvergenceError, StatsInputError
from .intervals import bootstrap_interval, prompt_replica_counts

STYLE_FEATURES: tuple[str, ...] = ("length", "headers", "lists", "bold", "code_blocks")
STYLE_LABELS: dict[str, str] = {
    "length": "Length (tokens)",
    "headers": "Markdown headers",
    "lists": "List items",
    "bold": "Bold spans",
    "code_blocks": "Code blocks",
}
# The coefficients' own prior is negligible; it only keeps a collinear feature finite.
_COEFFICIENT_RIDGE = 1e-6
_TOLERANCE = 1e-7
_MAX_ITERATIONS = 50
_MEMORY_BUDGET = 128 * 1024 * 1024
_SAFE_STEP = 0.3


@dataclass(frozen=True)
class StyleCoefficient:
    """One style feature's effect: log-odds per root-mean-square difference, with its interval."""

    feature: str
    coefficient: float | None
    lower: float | None
    upper: float | None
    scale: float | None

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict; `elo` is the same effect in Elo points."""

        def elo(value: float | None) -> float | None:
            return None if value is None else ELO_SCALE * value

        return {
            "feature": self.feature,
            "label": STYLE_LABELS.get(self.feature, self.feature),
            "coefficient": _json.number(self.coefficient),
            "lower": _json.number(self.lower),
            "upper": _json.number(self.upper),
            "elo": _json.number(elo(self.coefficient)),
            "elo_lower": _json.number(elo(self.lower)),
            "elo_upper": _json.number(elo(self.upper)),
            "scale": _json.number(self.scale),
        }


@dataclass(frozen=True, eq=False)
class StyleControlled:
    """A style-controlled board: Elo, intervals, ranks and rank spreads per model, coefficients."""

    models: tuple[ModelId, ...]
    elo: FloatArray
    lower: FloatArray
    upper: FloatArray
    rank_with_uncertainty: IntArray
    rank_lower: IntArray | None
    rank_upper: IntArray | None
    coefficients: tuple[StyleCoefficient, ...]
    n_ratings: int
    n_ratings_without_style: int
    replicas: int
    elo_replicas: FloatArray | None

    def to_dict(self) -> dict[str, Any]:
        """The board-level part as JSON: coefficients and counts (per-model lines go elsewhere)."""
        return {
            "method": "bradley_terry_style_covariates",
            "features": list(STYLE_FEATURES),
            "normalisation": "(a - b) / (a + b), divided by its root mean square on the board",
            "coefficients": [coefficient.to_dict() for coefficient in self.coefficients],
            "n_ratings": self.n_ratings,
            "n_ratings_without_style": self.n_ratings_without_style,
            "replicas": self.replicas,
            "bootstrap": "one Newton step per prompt-bootstrap replica from the full-data fit",
        }


def normalised_differences(style_a: npt.ArrayLike, style_b: npt.ArrayLike) -> FloatArray:
    """(a - b) / (a + b) per feature column, 0 where both are 0: LMArena's style differences."""
    a = np.asarray(style_a, dtype=np.float64)
    b = np.asarray(style_b, dtype=np.float64)
    if a.shape != b.shape:
        raise StatsInputError(f"style arrays differ in shape: {a.shape} and {b.shape}")
    if (a < 0).any() or (b < 0).any() or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise StatsInputError("style counts must be finite and non-negative")
    total = a + b
    return np.divide(a - b, total, out=np.zeros_like(total), where=total > 0)


def rank_spread(draws: FloatArray, confidence: float) -> tuple[IntArray, IntArray]:
    """Interval of each column's rank (1 = highest) over the replica rows of `draws`.

    A model's rank within a replica is its position by that replica's Elo (exact ties, which
    continuous replicas do not produce, go to the earlier column); the bounds are the observed
    ranks at the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles (inverted CDF, so each
    bound is a rank some replica gave)."""
    values = np.asarray(draws, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 1:
        raise StatsInputError("rank_spread needs a (replicas, models) array")
    order = np.argsort(-values, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, values.shape[1] + 1)[None, :], axis=1)
    tail = (1.0 - confidence) / 2.0
    lower = np.quantile(ranks, tail, axis=0, method="inverted_cdf")
    upper = np.quantile(ranks, 1.0 - tail, axis=0, method="inverted_cdf")
    return lower.astype(np.int64), upper.astype(np.int64)


@dataclass(frozen=True, eq=False)
class StylePointFit:
    """The full-data style-controlled fit and what each bootstrap replica needs from it.

    `scores` (prompts, parameters) are each prompt's contributions to the score at the fit, in
    the plain board's prompt coding: replica r's score is its prompt counts times `scores`.
    """

    models: tuple[ModelId, ...]
    theta: FloatArray
    information: FloatArray
    scores: FloatArray
    penalty: FloatArray
    active: npt.NDArray[np.bool_]
    scale: FloatArray
    n_prompts: int
    n_ratings: int
    n_ratings_without_style: int

    def replica_parameters(self, replica_scores: FloatArray) -> FloatArray:
        """One Newton step per replica from the fit: theta + I^-1 (counts @ scores - penalty)."""
        gradient = np.asarray(replica_scores, dtype=np.float64) - self.penalty
        draws = self.theta + np.linalg.solve(self.information, gradient.T).T
        m = len(self.models)
        draws[:, :m] -= draws[:, :m].mean(axis=1, keepdims=True)
        return np.asarray(draws, dtype=np.float64)


def style_point_fit(
    *,
    prompt: npt.ArrayLike,
    model_a: npt.ArrayLike,
    model_b: npt.ArrayLike,
    wins_a: npt.ArrayLike,
    ties: npt.ArrayLike,
    wins_b: npt.ArrayLike,
    style_a: npt.ArrayLike,
    style_b: npt.ArrayLike,
    models: tuple[ModelId, ...],
    ridge: float,
    has_style: npt.ArrayLike | None = None,
    start: FloatArray | None = None,
) -> StylePointFit:
    """Fit the style-controlled model on (prompt, a, b) count rows between `models`.

    `style_a` and `style_b` are (rows, features) raw counts of the two answers (STYLE_FEATURES
    order). Rows whose models are not both in `models` are dropped; prompts are coded in sorted
    order of the remaining rows' prompt ids, which is the plain board's prompt coding when
    `models` are its ranked models, so replica r weights the same prompts. Rows with
    `has_style` false keep their prompt in the coding but do not enter the fit. `start`
    (natural-log strengths of `models`, e.g. the plain fit) warm-starts the Newton solver.
    """
    if len(models) < 2:
        raise StatsInputError("need at least two models to fit")
    if not (math.isfinite(ridge) and ridge > 0):
        raise StatsInputError(f"ridge must be a positive number, got {ridge!r}")
    prompt_ids = np.asarray(prompt)
    a_ids = np.asarray(model_a)
    b_ids = np.asarray(model_b)
    won_a = np.asarray(wins_a, dtype=np.float64)
    tied = np.asarray(ties, dtype=np.float64)
    won_b = np.asarray(wins_b, dtype=np.float64)
    n_rows = len(prompt_ids)
    style_a_arr = np.asarray(style_a, dtype=np.float64).reshape(n_rows, -1)
    style_b_arr = np.asarray(style_b, dtype=np.float64).reshape(n_rows, -1)
    if style_a_arr.shape[1] != len(STYLE_FEATURES):
        raise StatsInputError(
            f"style arrays need {len(STYLE_FEATURES)} columns {STYLE_FEATURES}, "
            f"got {style_a_arr.shape[1]}"
        )
    styled = (
        np.ones(n_rows, dtype=np.bool_)
        if has_style is None
        else np.asarray(has_style, dtype=np.bool_)
    )
    for name, array in (("model_a", a_ids), ("model_b", b_ids), ("wins_a", won_a)):
        if len(array) != n_rows:
            raise StatsInputError(f"{name} has {len(array)} rows, prompt has {n_rows}")

    code_a = _model_codes(a_ids, models)
    code_b = _model_codes(b_ids, models)
    total = won_a + tied + won_b
    keep = (code_a >= 0) & (code_b >= 0) & (total > 0)
    if not keep.any():
        raise StatsInputError("no ratings between the given models")
    _, prompt_code = np.unique(prompt_ids[keep], return_inverse=True)
    prompt_code = prompt_code.ravel().astype(np.int64)
    n_prompts = int(prompt_code.max()) + 1
    fit_rows = styled[keep]
    n_ratings = int(total[keep].sum())
    n_without = int(total[keep][~fit_rows].sum())

    code_a, code_b = code_a[keep][fit_rows], code_b[keep][fit_rows]
    prompt_code = prompt_code[fit_rows]
    n = total[keep][fit_rows]
    wins = (won_a + 0.5 * tied)[keep][fit_rows]
    raw = normalised_differences(style_a_arr[keep][fit_rows], style_b_arr[keep][fit_rows])
    m = len(models)
    if n.sum() == 0:
        raise StatsInputError("no ratings with style records between the given models")

    scale = np.sqrt(np.einsum("r,rf->f", n, raw * raw) / n.sum())
    active = scale > 1e-12
    x = raw[:, active] / scale[active]
    theta, eta = _newton_fit(code_a, code_b, n, wins, x, m, ridge, start)
    return StylePointFit(
        models=models,
        theta=theta,
        information=_information(eta, code_a, code_b, n, x, m, ridge),
        scores=_per_prompt_scores(eta, code_a, code_b, n, wins, x, m, prompt_code, n_prompts),
        penalty=np.concatenate([ridge * theta[:m], _COEFFICIENT_RIDGE * theta[m:]]),
        active=active,
        scale=scale,
        n_prompts=n_prompts,
        n_ratings=n_ratings,
        n_ratings_without_style=n_without,
    )


def style_controlled(
    fit: StylePointFit,
    replica_scores: FloatArray,
    *,
    confidence: float = 0.95,
    elo_mean: float | None = None,
) -> StyleControlled:
    """The style-controlled board from its point fit and the replicas' scores (counts @ scores).

    `elo_mean` places the scale (the plain board's mean Elo over the models; default 1000)."""
    m = len(fit.models)
    theta = fit.theta
    draws = fit.replica_parameters(replica_scores)
    beta = theta[:m] - theta[:m].mean()
    shift = (elo_mean if elo_mean is not None else 1000.0) - float((ELO_SCALE * beta).mean())
    elo = ELO_SCALE * beta + shift
    elo_draws = ELO_SCALE * draws[:, :m] + shift
    lower, upper = bootstrap_interval(elo, elo_draws, confidence, kind="basic")
    rank_uncertain = 1 + (lower[None, :] > upper[:, None]).sum(axis=1)
    rank_lower, rank_upper = rank_spread(elo_draws, confidence)

    gamma_low, gamma_high = bootstrap_interval(theta[m:], draws[:, m:], confidence, kind="basic")
    coefficients: list[StyleCoefficient] = []
    position = 0
    for index, feature in enumerate(STYLE_FEATURES):
        if fit.active[index]:
            coefficients.append(
                StyleCoefficient(
                    feature=feature,
                    coefficient=float(theta[m + position]),
                    lower=float(gamma_low[position]),
                    upper=float(gamma_high[position]),
                    scale=float(fit.scale[index]),
                )
            )
            position += 1
        else:
            coefficients.append(
                StyleCoefficient(
                    feature=feature, coefficient=None, lower=None, upper=None, scale=None
                )
            )
    return StyleControlled(
        models=fit.models,
        elo=elo,
        lower=lower,
        upper=upper,
        rank_with_uncertainty=rank_uncertain.astype(np.int64),
        rank_lower=rank_lower,
        rank_upper=rank_upper,
        coefficients=tuple(coefficients),
        n_ratings=fit.n_ratings,
        n_ratings_without_style=fit.n_ratings_without_style,
        replicas=len(replica_scores),
        elo_replicas=elo_draws,
    )


def fit_style_controlled(
    *,
    prompt: npt.ArrayLike,
    model_a: npt.ArrayLike,
    model_b: npt.ArrayLike,
    wins_a: npt.ArrayLike,
    ties: npt.ArrayLike,
    wins_b: npt.ArrayLike,
    style_a: npt.ArrayLike,
    style_b: npt.ArrayLike,
    models: tuple[ModelId, ...],
    ridge: float,
    replicas: int,
    seed: int,
    confidence: float = 0.95,
    elo_mean: float | None = None,
    has_style: npt.ArrayLike | None = None,
    start: FloatArray | None = None,
) -> StyleControlled:
    """Fit the style-controlled board and its intervals on its own draws of the replicas.

    The same numbers as `rank_models(..., style=...)` gives for the same rows, seed and models
    (the replicas are redrawn here with `intervals.replica_counts`); see `style_point_fit`.
    """
    if replicas < 1:
        raise StatsInputError(f"replicas must be at least 1, got {replicas}")
    fit = style_point_fit(
        prompt=prompt,
        model_a=model_a,
        model_b=model_b,
        wins_a=wins_a,
        ties=ties,
        wins_b=wins_b,
        style_a=style_a,
        style_b=style_b,
        models=models,
        ridge=ridge,
        has_style=has_style,
        start=start,
    )
    sums = np.empty((replicas, fit.scores.shape[1]))
    per_replica = 8 * (fit.n_prompts + 2 * fit.scores.shape[1])
    chunk = max(1, min(256, _MEMORY_BUDGET // max(per_replica, 1)))
    for first, counts in prompt_replica_counts(fit.n_prompts, replicas, seed, chunk=chunk):
        sums[first : first + len(counts)] = counts.astype(np.float64) @ fit.scores
    return style_controlled(fit, sums, confidence=confidence, elo_mean=elo_mean)


def _linear(theta: FloatArray, a: IntArray, b: IntArray, x: FloatArray, m: int) -> FloatArray:
    eta = np.take(theta, a)
    eta -= np.take(theta, b)
    eta += x @ theta[m:]
    return np.asarray(eta, dtype=np.float64)


def _probability(eta: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * eta)), dtype=np.float64)


def _objective(
    theta: FloatArray, eta: FloatArray, n: FloatArray, wins: FloatArray, m: int, ridge: float
) -> float:
    softplus = np.maximum(eta, 0.0) + np.log1p(np.exp(-np.abs(eta)))
    return float(
        wins @ eta
        - n @ softplus
        - 0.5 * ridge * theta[:m] @ theta[:m]
        - 0.5 * _COEFFICIENT_RIDGE * theta[m:] @ theta[m:]
    )


def _signed_sum(a: IntArray, b: IntArray, values: FloatArray, m: int) -> FloatArray:
    """Add each row's value to model a and subtract it from model b."""
    return sum_by(a, values, m) - sum_by(b, values, m)


def _gradient(
    theta: FloatArray,
    eta: FloatArray,
    a: IntArray,
    b: IntArray,
    n: FloatArray,
    wins: FloatArray,
    x: FloatArray,
    m: int,
    ridge: float,
) -> FloatArray:
    residual = wins - n * _probability(eta)
    model_part = _signed_sum(a, b, residual, m) - ridge * theta[:m]
    feature_part = residual @ x - _COEFFICIENT_RIDGE * theta[m:]
    return np.concatenate([model_part, feature_part])


def _information(
    eta: FloatArray,
    a: IntArray,
    b: IntArray,
    n: FloatArray,
    x: FloatArray,
    m: int,
    ridge: float,
) -> FloatArray:
    """Negative Hessian of the penalised log-likelihood, plus c/m * 11^T on the model block."""
    p = _probability(eta)
    curvature = n * p * (1.0 - p)
    features = x.shape[1]
    size = m + features
    matrix = np.zeros((size, size))
    pairs, pair_index = unique_codes(a * m + b, m * m)
    pair_curvature = sum_by(pair_index, curvature, len(pairs))
    i, j = np.divmod(pairs, m)
    np.add.at(matrix, (i, j), -pair_curvature)
    np.add.at(matrix, (j, i), -pair_curvature)
    diagonal = sum_by(a, curvature, m) + sum_by(b, curvature, m)
    matrix[np.arange(m), np.arange(m)] += diagonal + ridge
    weighted = curvature[:, None] * x
    for column in range(features):
        cross = _signed_sum(a, b, weighted[:, column], m)
        matrix[:m, m + column] = cross
        matrix[m + column, :m] = cross
    matrix[m:, m:] = x.T @ weighted + _COEFFICIENT_RIDGE * np.eye(features)
    # The likelihood is flat along the model block's 11^T; this fixes the gauge without
    # changing a step whose model part sums to zero (the ridge keeps it there).
    matrix[:m, :m] += diagonal.mean() / m
    return matrix


def _newton_fit(
    a: IntArray,
    b: IntArray,
    n: FloatArray,
    wins: FloatArray,
    x: FloatArray,
    m: int,
    ridge: float,
    start: FloatArray | None,
) -> tuple[FloatArray, FloatArray]:
    """Maximise the penalised likelihood by Newton steps with backtracking; (theta, eta)."""
    theta = np.zeros(m + x.shape[1])
    if start is not None:
        theta[:m] = start - start.mean()
    eta = _linear(theta, a, b, x, m)
    current: float | None = None
    for _ in range(_MAX_ITERATIONS):
        gradient = _gradient(theta, eta, a, b, n, wins, x, m, ridge)
        step = np.linalg.solve(_information(eta, a, b, n, x, m, ridge), gradient)
        step[:m] -= step[:m].mean()
        scale = 1.0
        candidate = theta + step
        candidate_eta = _linear(candidate, a, b, x, m)
        # As in the plain solver: while no row's linear predictor moves by more than 0.6, each
        # row's curvature changes by less than a factor of 2 and the full step provably
        # improves the objective, so only larger steps pay for evaluating it.
        if np.abs(candidate_eta - eta).max() > 2 * _SAFE_STEP:
            if current is None:
                current = _objective(theta, eta, n, wins, m, ridge)
            for _ in range(60):
                value = _objective(candidate, candidate_eta, n, wins, m, ridge)
                if value >= current - 1e-12 * (1.0 + abs(current)):
                    break
                scale *= 0.5
                candidate = theta + scale * step
                candidate_eta = _linear(candidate, a, b, x, m)
            current = value
        else:
            current = None
        theta, eta = candidate, candidate_eta
        if np.abs(scale * step).max() < _TOLERANCE:
            return theta, eta
    raise StatsConvergenceError(
        f"the style-controlled fit did not converge in {_MAX_ITERATIONS} Newton iterations"
    )


def _per_prompt_scores(
    eta: FloatArray,
    a: IntArray,
    b: IntArray,
    n: FloatArray,
    wins: FloatArray,
    x: FloatArray,
    m: int,
    prompt: IntArray,
    n_prompts: int,
) -> FloatArray:
    """Each prompt's contribution to the score (gradient of the log-likelihood) at the fit."""
    residual = wins - n * _probability(eta)
    size = m + x.shape[1]
    flat = sum_by(prompt * size + a, residual, n_prompts * size)
    flat -= sum_by(prompt * size + b, residual, n_prompts * size)
    scores = flat.reshape(n_prompts, size)
    for column in range(x.shape[1]):
        scores[:, m + column] += sum_by(prompt, residual * x[:, column], n_prompts)
    return scores


def _model_codes(ids: npt.NDArray[Any], models: tuple[ModelId, ...]) -> IntArray:
    """Position of each id in `models`, -1 for ids not listed."""
    listed = np.asarray(models)
    order = np.argsort(listed, kind="stable")
    ordered = listed[order]
    position = np.searchsorted(ordered, ids).clip(0, len(ordered) - 1)
    found = ordered[position] == ids
    return np.where(found, order[position], -1).astype(np.int64)
