"""What experts found, per model: mean rubric scores, issue-tag rates, strengths and weaknesses.

Input is one row per (prompt, model) of a board: how many of the model's answers to the prompt
were rated, the sum and count of each dimension's scores over those ratings, and how many of
them carried each issue tag. A model's mean score on a dimension is its score sum over its score
count; its rate of a tag is the share of its rated answers that carry the tag.

Intervals resample prompts, as the ranking engine does (leaderboards/stats/intervals.py): the
ratings of one prompt are not independent, so a replica is a vector of multinomial counts over
the board's prompts, drawn from `Generator(seed).integers(0, n_prompts, size=(replicas,
n_prompts), dtype=uint32)` chunk by chunk, prompts in sorted order of their ids. With the
engine's seed and the same prompts these are the engine's very replica weights. Each replica's
totals are one product of its counts with a (prompts x columns) matrix of per-prompt sums; the
ratio statistics follow. Intervals are percentile intervals: means and rates are bounded, and
the reflected (basic) interval can leave [0, 1] where a rate is near an end.

Strengths and weaknesses compare a model's standing on a category board with its standing on
the whole domain: its Elo minus the mean Elo of the models ranked on both boards, category
minus overall. The two boards' replicas resample their own prompts (drawn independently), which
ignores that the category's ratings are part of the overall board; the positive correlation
that is left out would narrow the interval, so the interval is, if anything, too wide and a
mark (only where it excludes zero) is conservative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import FloatArray, IntArray
from .errors import StatsInputError

# Replicas per chunk: the (chunk x prompts) counts and (chunk x columns) totals stay small.
_CHUNK = 64
# Entries of the dense per-prompt matrix held at once (float32); wider boards go block by block.
_DENSE_ENTRY_LIMIT = 1 << 24


@dataclass(frozen=True, eq=False)
class AnswerSums:
    """Per (prompt, model) sums over the rated answers of one board; rows are unique pairs.

    answers: rated answers (ratings) of the model on the prompt; score_sum, score_n: (rows,
    dimensions) sum and number of scores given; tag_count: (rows, tags) answers with the tag.
    """

    prompt: IntArray
    model: IntArray
    answers: IntArray
    score_sum: FloatArray
    score_n: IntArray
    tag_count: IntArray

    def __post_init__(self) -> None:
        rows = len(self.prompt)
        for name in ("model", "answers"):
            if len(getattr(self, name)) != rows:
                raise StatsInputError(f"{name} has {len(getattr(self, name))} rows, not {rows}")
        for name in ("score_sum", "score_n", "tag_count"):
            array = getattr(self, name)
            if array.ndim != 2 or array.shape[0] != rows:
                raise StatsInputError(f"{name} must be (rows, columns) with {rows} rows")
        if self.score_sum.shape != self.score_n.shape:
            raise StatsInputError("score_sum and score_n must have the same shape")
        if rows and (self.answers.min() < 0 or (self.score_n > self.answers[:, None]).any()):
            raise StatsInputError("score counts must lie between 0 and the answers counted")
        if rows and ((self.tag_count < 0) | (self.tag_count > self.answers[:, None])).any():
            raise StatsInputError("tag counts must lie between 0 and the answers counted")
        if rows:
            # One int64 key per row (ids are non-negative and below 2**31 each): a flat unique
            # is several times cheaper than np.unique(axis=0) on the stacked pairs.
            prompt, model = self.prompt.astype(np.int64), self.model.astype(np.int64)
            if min(prompt.min(), model.min()) < 0 or max(prompt.max(), model.max()) >= 2**31:
                raise StatsInputError("prompt and model ids must lie in [0, 2**31)")
            if len(np.unique(prompt * 2**31 + model)) != rows:
                raise StatsInputError("one row per (prompt, model)")

    @property
    def n_dimensions(self) -> int:
        """How many rubric dimensions the columns of score_sum stand for."""
        return int(self.score_sum.shape[1])

    @property
    def n_tags(self) -> int:
        """How many issue tags the columns of tag_count stand for."""
        return int(self.tag_count.shape[1])

    def restrict(self, prompts: IntArray) -> AnswerSums:
        """Only the rows of the given prompts (a category board)."""
        keep = np.isin(self.prompt, prompts)
        # A subset of valid rows is valid: no second check (it cost as much as the selection).
        subset = object.__new__(AnswerSums)
        for name in ("prompt", "model", "answers", "score_sum", "score_n", "tag_count"):
            object.__setattr__(subset, name, getattr(self, name)[keep])
        return subset


@dataclass(frozen=True, eq=False)
class AnswerDiagnostics:
    """Per model (rows in `models` order): score means and tag rates with their intervals.

    Pooled tag rates (all models together) are the board's error sources; `error_order`
    lists tag columns by pooled rate, highest first. NaN where a model has no score or answer.
    """

    models: IntArray
    answers: IntArray
    score_mean: FloatArray
    score_lower: FloatArray
    score_upper: FloatArray
    score_n: IntArray
    tag_rate: FloatArray
    tag_lower: FloatArray
    tag_upper: FloatArray
    tag_count: IntArray
    pooled_rate: FloatArray
    pooled_lower: FloatArray
    pooled_upper: FloatArray
    pooled_count: IntArray
    pooled_answers: int
    error_order: IntArray


def answer_diagnostics(
    sums: AnswerSums, *, replicas: int, seed: int, confidence: float = 0.95
) -> AnswerDiagnostics:
    """Mean score per dimension and rate per tag for every model, with prompt-bootstrap bounds."""
    if replicas < 2:
        raise StatsInputError(f"replicas must be at least 2, got {replicas}")
    if not 0 < confidence < 1:
        raise StatsInputError(f"confidence must lie between 0 and 1, got {confidence!r}")
    d, t = sums.n_dimensions, sums.n_tags
    models, model_code = np.unique(sums.model, return_inverse=True)
    prompts, unit = np.unique(sums.prompt, return_inverse=True)
    m, u = len(models), len(prompts)
    # Columns per model: answers, D score sums, D score counts, T tag counts.
    per_model = 1 + 2 * d + t
    values = np.concatenate(
        [sums.answers[:, None], sums.score_sum, sums.score_n, sums.tag_count], axis=1
    ).astype(np.float64)
    # Per-model totals, one bincount per column (np.add.at is several times slower; both add
    # the rows in order).
    codes = model_code.ravel()
    point = np.zeros((m, per_model))
    for c in range(per_model):
        point[:, c] = np.bincount(codes, weights=values[:, c], minlength=m)
    estimate = _ratios(point[None], d, t)

    if m == 0 or u == 0:
        draws = estimate
    else:
        draws = _replica_ratios(
            values, unit.ravel(), model_code.ravel(), m, u, d, t, replicas, seed
        )
    tail = (1.0 - confidence) / 2.0
    lower, upper = _nan_quantiles(draws, tail)
    est = estimate[0]
    score_mean, tag_rate = est[:, :d], est[:, d : d + t]
    pooled_rate = est[m, d : d + t] if m else np.full(t, np.nan)
    score_n = point[:, 1 + d : 1 + 2 * d].astype(np.int64)
    pooled_count = point[:, 1 + 2 * d :].sum(axis=0).astype(np.int64)
    pooled_lower = lower[m, d : d + t] if m else np.full(t, np.nan)
    pooled_upper = upper[m, d : d + t] if m else np.full(t, np.nan)
    order = np.lexsort((np.arange(t), -np.nan_to_num(pooled_rate, nan=-1.0)))
    return AnswerDiagnostics(
        models=models.astype(np.int64),
        answers=point[:, 0].astype(np.int64),
        score_mean=score_mean[:m],
        score_lower=lower[:m, :d],
        score_upper=upper[:m, :d],
        score_n=score_n,
        tag_rate=tag_rate[:m],
        tag_lower=lower[:m, d : d + t],
        tag_upper=upper[:m, d : d + t],
        tag_count=point[:, 1 + 2 * d :].astype(np.int64),
        pooled_rate=pooled_rate,
        pooled_lower=pooled_lower,
        pooled_upper=pooled_upper,
        pooled_count=pooled_count,
        pooled_answers=int(point[:, 0].sum()),
        error_order=order.astype(np.int64),
    )


def _nan_quantiles(draws: FloatArray, tail: float) -> tuple[FloatArray, FloatArray]:
    """Lower and upper quantiles per column over axis 0, skipping NaN (NaN if all are).

    np.nanquantile gives the same numbers (linear interpolation) but loops over columns in
    Python when any NaN is present; sorting once puts NaN last and indexes every column.
    """
    # Sorting each column as one contiguous row is several times faster than along axis 0.
    flat = np.ascontiguousarray(draws.reshape(len(draws), -1).T)
    ordered = np.sort(flat, axis=1).T.reshape(draws.shape)
    valid = (~np.isnan(draws)).sum(axis=0)
    bounds = []
    for q in (tail, 1.0 - tail):
        position = q * np.maximum(valid - 1, 0)
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(valid - 1, 0))
        low = np.take_along_axis(ordered, below[None], axis=0)[0]
        high = np.take_along_axis(ordered, above[None], axis=0)[0]
        with np.errstate(invalid="ignore"):
            value = low + (high - low) * (position - below)
        bounds.append(np.where(valid > 0, value, np.nan))
    return bounds[0], bounds[1]


def _ratios(totals: FloatArray, d: int, t: int) -> FloatArray:
    """(replicas, models, columns) totals to (replicas, models + 1, D + T) means and rates.

    The extra last model row pools every model (the board's error sources).
    """
    pooled = totals.sum(axis=1, keepdims=True)
    totals = np.concatenate([totals, pooled], axis=1)
    answers = totals[..., :1]
    score_sum, score_n = totals[..., 1 : 1 + d], totals[..., 1 + d : 1 + 2 * d]
    tags = totals[..., 1 + 2 * d :]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(score_n > 0, score_sum / score_n, np.nan)
        rate = np.where(answers > 0, tags / answers, np.nan)
    return np.concatenate([mean, rate], axis=-1)


def _replica_ratios(
    values: FloatArray,
    unit: IntArray,
    model_code: IntArray,
    m: int,
    u: int,
    d: int,
    t: int,
    replicas: int,
    seed: int,
) -> FloatArray:
    """Every replica's means and rates, (replicas, models + 1, D + T)."""
    full_width = values.shape[1]
    # Columns that need no product: a score count equal to the answer count on every row (no
    # score missing) is the replica's answer total; a tag never given totals zero.
    source = np.arange(full_width)
    for j in range(d):
        if np.array_equal(values[:, 1 + d + j], values[:, 0]):
            source[1 + d + j] = 0
    zero = np.flatnonzero(~values.any(axis=0))
    kept = np.array(
        [c for c in range(full_width) if source[c] == c and c not in set(zero.tolist())],
        dtype=np.int64,
    )
    position = np.full(full_width, len(kept), dtype=np.int64)  # len(kept): a zero column
    position[kept] = np.arange(len(kept))
    position = position[source]
    values = values[:, kept]
    per_model = len(kept)
    column = (model_code * per_model)[:, None] + np.arange(per_model)[None, :]
    # Dense blocks of whole models, each at most _DENSE_ENTRY_LIMIT entries of (prompts x cols).
    models_per_block = max(1, min(m, _DENSE_ENTRY_LIMIT // max(1, u * per_model)))
    blocks: list[tuple[int, int, np.ndarray]] = []
    for first in range(0, m, models_per_block):
        last = min(m, first + models_per_block)
        rows = (model_code >= first) & (model_code < last)
        width = (last - first) * per_model
        matrix = np.zeros((u, width), dtype=np.float32)
        matrix[unit[rows][:, None], column[rows] - first * per_model] = values[rows]
        blocks.append((first, last, matrix))
    rng = np.random.default_rng(seed)
    draw_type = np.uint32 if u < 2**32 else np.int64
    out = np.empty((replicas, m + 1, d + t))
    for start in range(0, replicas, _CHUNK):
        size = min(_CHUNK, replicas - start)
        draws = rng.integers(0, u, size=(size, u), dtype=draw_type).astype(np.int64)
        offsets = np.arange(size, dtype=np.int64)[:, None] * u
        counts = (
            np.bincount((draws + offsets).ravel(), minlength=size * u)
            .reshape(size, u)
            .astype(np.float32)
        )
        # One spare zero column at the end stands for the columns that total zero.
        totals = np.zeros((size, m, per_model + 1))
        for first, last, matrix in blocks:
            totals[:, first:last, :per_model] = (counts @ matrix).reshape(
                size, last - first, per_model
            )
        out[start : start + size] = _ratios(totals[:, :, position], d, t)
    return out


@dataclass(frozen=True, eq=False)
class StandingDifferences:
    """Per model ranked on both boards: category standing minus overall standing, in Elo.

    mark is +1 (strength) where the interval lies wholly above zero, -1 (weakness) wholly
    below, 0 otherwise.
    """

    models: IntArray
    difference: FloatArray
    lower: FloatArray
    upper: FloatArray
    mark: IntArray


def standing_differences(
    *,
    overall_models: IntArray,
    overall_elo: FloatArray,
    overall_replicas: FloatArray,
    category_models: IntArray,
    category_elo: FloatArray,
    category_replicas: FloatArray,
    confidence: float = 0.95,
) -> StandingDifferences:
    """Category Elo minus overall Elo, both centred on the shared models, with basic bounds."""
    if overall_replicas.shape[1] != len(overall_models) or overall_elo.shape != (
        len(overall_models),
    ):
        raise StatsInputError("overall Elo and replicas must have one column per model")
    if category_replicas.shape[1] != len(category_models) or category_elo.shape != (
        len(category_models),
    ):
        raise StatsInputError("category Elo and replicas must have one column per model")
    if not 0 < confidence < 1:
        raise StatsInputError(f"confidence must lie between 0 and 1, got {confidence!r}")
    shared, in_overall, in_category = np.intersect1d(
        overall_models, category_models, return_indices=True
    )
    if len(shared) < 2:
        empty = np.zeros(0)
        return StandingDifferences(
            models=shared.astype(np.int64),
            difference=empty,
            lower=empty,
            upper=empty,
            mark=np.zeros(0, dtype=np.int64),
        )
    r = min(len(overall_replicas), len(category_replicas))

    def centred(values: FloatArray) -> FloatArray:
        return values - values.mean(axis=-1, keepdims=True)

    estimate = centred(category_elo[in_category]) - centred(overall_elo[in_overall])
    draws = centred(category_replicas[:r, in_category]) - centred(overall_replicas[:r, in_overall])
    tail = (1.0 - confidence) / 2.0
    q_low, q_high = np.quantile(draws, [tail, 1.0 - tail], axis=0)
    lower, upper = 2.0 * estimate - q_high, 2.0 * estimate - q_low
    mark = np.where(lower > 0, 1, np.where(upper < 0, -1, 0)).astype(np.int64)
    return StandingDifferences(
        models=shared.astype(np.int64),
        difference=estimate,
        lower=lower,
        upper=upper,
        mark=mark,
    )
