"""Validation of pairwise ratings and their aggregation into (prompt, pair, outcome) cells."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from .errors import StatsInputError

ModelId: TypeAlias = Hashable
FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]

RATING_COLUMNS = ("prompt", "model_a", "model_b", "outcome")
COUNT_COLUMNS = ("prompt", "model_a", "model_b", "wins_a", "ties", "wins_b")
WEIGHT_COLUMN = "weight"

_NUMERIC_KINDS = frozenset(
    {"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"}
)


@dataclass(frozen=True, eq=False)
class ModelTallies:
    """Unweighted vote counts per model, aligned with `Comparisons.models`."""

    ratings: IntArray
    wins: IntArray
    ties: IntArray
    losses: IntArray


@dataclass(frozen=True, eq=False)
class Comparisons:
    """Validated comparison data, aggregated to one cell per (prompt, model pair, outcome).

    Pairs are stored as codes into `models` with `model_i < model_j`, and `outcome` is the
    result for `model_i` (1 win, 0.5 tie, 0 loss); a rating entered as (b, a, 1 - outcome)
    therefore lands in the same cell as (a, b, outcome). Models and prompts are coded in
    sorted order, so the cells, and with them every seeded bootstrap, do not depend on the
    order in which the database returned the rows. Build it with `from_ratings`,
    `from_arrays`, `from_counts` or `from_count_arrays`, which validate their input.
    """

    models: tuple[ModelId, ...]
    n_prompts: int
    prompt: IntArray
    model_i: IntArray
    model_j: IntArray
    outcome: FloatArray
    count: IntArray
    weight: FloatArray
    weight_sq: FloatArray

    @property
    def n_models(self) -> int:
        """Number of models listed, rated or not."""
        return len(self.models)

    @property
    def n_ratings(self) -> int:
        """Number of individual ratings behind the cells."""
        return int(self.count.sum())

    @classmethod
    def from_ratings(
        cls, frame: pd.DataFrame, *, models: Iterable[ModelId] | None = None
    ) -> Comparisons:
        """Validate one row per rating (prompt, model_a, model_b, outcome[, weight])."""
        _require_columns(frame, RATING_COLUMNS)
        return cls.from_arrays(
            prompt=frame["prompt"],
            model_a=frame["model_a"],
            model_b=frame["model_b"],
            outcome=frame["outcome"],
            weight=frame[WEIGHT_COLUMN] if WEIGHT_COLUMN in frame.columns else None,
            models=models,
        )

    @classmethod
    def from_arrays(
        cls,
        *,
        prompt: npt.ArrayLike | pd.Series[Any],
        model_a: npt.ArrayLike | pd.Series[Any],
        model_b: npt.ArrayLike | pd.Series[Any],
        outcome: npt.ArrayLike | pd.Series[Any],
        weight: npt.ArrayLike | pd.Series[Any] | None = None,
        models: Iterable[ModelId] | None = None,
    ) -> Comparisons:
        """Validate parallel arrays, one entry per rating; outcome 1 means model_a won."""
        columns = {
            "prompt": _series(prompt, "prompt"),
            "model_a": _series(model_a, "model_a"),
            "model_b": _series(model_b, "model_b"),
            "outcome": _series(outcome, "outcome"),
        }
        if weight is not None:
            columns[WEIGHT_COLUMN] = _series(weight, WEIGHT_COLUMN)
        n_rows = _common_length(columns)
        if n_rows == 0:
            raise StatsInputError("no ratings were given: the input is empty")
        outcome_a = _numeric(columns["outcome"], "outcome")
        valid = (outcome_a == 0.0) | (outcome_a == 0.5) | (outcome_a == 1.0)
        if not valid.all():
            raise StatsInputError(
                f"outcome must be 1 (model_a better), 0.5 (tie) or 0 (model_b better); "
                f"{int((~valid).sum())} rows have other values, e.g. "
                f"{_examples(columns['outcome'][~valid])}"
            )
        weights = (
            np.ones(n_rows) if weight is None else _weights(columns[WEIGHT_COLUMN], WEIGHT_COLUMN)
        )
        prompt_codes, prompt_ids = _factorize(columns["prompt"], "prompt")
        code_a, code_b, model_ids = _model_codes(columns["model_a"], columns["model_b"], models)
        return _aggregate(
            prompt=prompt_codes,
            n_prompts=len(prompt_ids),
            code_a=code_a,
            code_b=code_b,
            outcome_a=outcome_a,
            count=np.ones(n_rows, dtype=np.int64),
            weight=weights,
            weight_sq=weights * weights,
            models=model_ids,
        )

    @classmethod
    def from_counts(
        cls, frame: pd.DataFrame, *, models: Iterable[ModelId] | None = None
    ) -> Comparisons:
        """Validate pre-aggregated rows (prompt, model_a, model_b, wins_a, ties, wins_b[, weight]).

        This is the fast path for a caller that lets the database GROUP BY prompt and pair.
        The optional weight is a per-rating weight shared by all ratings of the row.
        """
        _require_columns(frame, COUNT_COLUMNS)
        return cls.from_count_arrays(
            prompt=frame["prompt"],
            model_a=frame["model_a"],
            model_b=frame["model_b"],
            wins_a=frame["wins_a"],
            ties=frame["ties"],
            wins_b=frame["wins_b"],
            weight=frame[WEIGHT_COLUMN] if WEIGHT_COLUMN in frame.columns else None,
            models=models,
        )

    @classmethod
    def from_count_arrays(
        cls,
        *,
        prompt: npt.ArrayLike | pd.Series[Any],
        model_a: npt.ArrayLike | pd.Series[Any],
        model_b: npt.ArrayLike | pd.Series[Any],
        wins_a: npt.ArrayLike | pd.Series[Any],
        ties: npt.ArrayLike | pd.Series[Any],
        wins_b: npt.ArrayLike | pd.Series[Any],
        weight: npt.ArrayLike | pd.Series[Any] | None = None,
        models: Iterable[ModelId] | None = None,
    ) -> Comparisons:
        """Validate parallel arrays of per-(prompt, pair) win/tie/loss counts."""
        columns = {
            "prompt": _series(prompt, "prompt"),
            "model_a": _series(model_a, "model_a"),
            "model_b": _series(model_b, "model_b"),
            "wins_a": _series(wins_a, "wins_a"),
            "ties": _series(ties, "ties"),
            "wins_b": _series(wins_b, "wins_b"),
        }
        if weight is not None:
            columns[WEIGHT_COLUMN] = _series(weight, WEIGHT_COLUMN)
        n_rows = _common_length(columns)
        tallies = [_counts(columns[name], name) for name in ("wins_b", "ties", "wins_a")]
        if n_rows == 0 or sum(int(t.sum()) for t in tallies) == 0:
            raise StatsInputError("no ratings were given: the counts are empty or all zero")
        weights = (
            np.ones(n_rows) if weight is None else _weights(columns[WEIGHT_COLUMN], WEIGHT_COLUMN)
        )
        prompt_codes, prompt_ids = _factorize(columns["prompt"], "prompt")
        code_a, code_b, model_ids = _model_codes(columns["model_a"], columns["model_b"], models)
        # One cell per outcome class and row; the order (b wins, tie, a wins) matches outcome 2*y.
        count = np.concatenate(tallies)
        keep = count > 0
        repeated_weight = np.tile(weights, 3)[keep]
        count = count[keep]
        return _aggregate(
            prompt=np.tile(prompt_codes, 3)[keep],
            n_prompts=len(prompt_ids),
            code_a=np.tile(code_a, 3)[keep],
            code_b=np.tile(code_b, 3)[keep],
            outcome_a=np.repeat(np.array([0.0, 0.5, 1.0]), n_rows)[keep],
            count=count,
            weight=count * repeated_weight,
            weight_sq=count * repeated_weight * repeated_weight,
            models=model_ids,
        )

    def tallies(self) -> ModelTallies:
        """Unweighted ratings, wins, ties and losses per model."""
        m = self.n_models
        won = np.where(self.outcome == 1.0, self.count, 0)
        tied = np.where(self.outcome == 0.5, self.count, 0)
        lost = np.where(self.outcome == 0.0, self.count, 0)

        def per_model(for_i: IntArray, for_j: IntArray) -> IntArray:
            total = sum_by(self.model_i, for_i, m) + sum_by(self.model_j, for_j, m)
            return np.rint(total).astype(np.int64)

        return ModelTallies(
            ratings=per_model(self.count, self.count),
            wins=per_model(won, lost),
            ties=per_model(tied, tied),
            losses=per_model(lost, won),
        )

    def with_models(self, extra: Iterable[ModelId]) -> Comparisons:
        """The same ratings, with `extra` models added to the listing even if never rated."""
        codes, labels = _factorize(pd.Series([*self.models, *extra], dtype=object), "models")
        remap = codes[: self.n_models]
        return _aggregate(
            prompt=self.prompt,
            n_prompts=self.n_prompts,
            code_a=remap[self.model_i],
            code_b=remap[self.model_j],
            outcome_a=self.outcome,
            count=self.count,
            weight=self.weight,
            weight_sq=self.weight_sq,
            models=labels,
        )

    def restrict(self, keep: BoolArray) -> Comparisons:
        """Keep only ratings between models where `keep` is true; recode models and prompts."""
        if keep.shape != (self.n_models,):
            raise StatsInputError("restrict() needs one flag per model")
        cells = keep[self.model_i] & keep[self.model_j]
        new_code = np.cumsum(keep) - 1
        prompt = self.prompt[cells]
        # Prompts left without ratings would only add empty draws to a prompt bootstrap.
        used_prompts, prompt = unique_codes(prompt, self.n_prompts)
        return Comparisons(
            models=tuple(model for model, kept in zip(self.models, keep, strict=True) if kept),
            n_prompts=len(used_prompts),
            prompt=prompt.astype(np.int64),
            model_i=new_code[self.model_i[cells]],
            model_j=new_code[self.model_j[cells]],
            outcome=self.outcome[cells],
            count=self.count[cells],
            weight=self.weight[cells],
            weight_sq=self.weight_sq[cells],
        )


def sum_by(index: IntArray, weights: npt.ArrayLike, size: int) -> FloatArray:
    """Sum `weights` per value of `index` in [0, size), as float64."""
    return np.asarray(np.bincount(index, weights=weights, minlength=size), dtype=np.float64)


def unique_codes(keys: IntArray, size: int) -> tuple[IntArray, IntArray]:
    """Sorted distinct keys in [0, size) and each key's position among them.

    Same result as np.unique(keys, return_inverse=True), but by marking a table instead of
    sorting whenever the key range is small.
    """
    if size > max(1 << 20, 4 * len(keys)):
        distinct, inverse = np.unique(keys, return_inverse=True)
        return distinct.astype(np.int64), inverse.ravel().astype(np.int64)
    present = np.zeros(size, dtype=np.bool_)
    present[keys] = True
    position = np.cumsum(present, dtype=np.int64) - 1
    return np.flatnonzero(present).astype(np.int64), position[keys]


def preference_to_outcome(preference: npt.ArrayLike) -> FloatArray:
    """Map the 5-point preference (+2 A much better ... 0 tie ... -2 B much better) to 1/0.5/0."""
    values = np.asarray(preference, dtype=np.float64)
    allowed = np.isin(values, (-2.0, -1.0, 0.0, 1.0, 2.0))
    if not allowed.all():
        raise StatsInputError(
            f"preference must be one of -2, -1, 0, 1, 2; got e.g. "
            f"{sorted(set(values[~allowed].tolist()))[:5]}"
        )
    return np.asarray((np.sign(values) + 1.0) / 2.0, dtype=np.float64)


def _aggregate(
    *,
    prompt: IntArray,
    n_prompts: int,
    code_a: IntArray,
    code_b: IntArray,
    outcome_a: FloatArray,
    count: IntArray,
    weight: FloatArray,
    weight_sq: FloatArray,
    models: tuple[ModelId, ...],
) -> Comparisons:
    same = code_a == code_b
    if same.any():
        first = int(np.flatnonzero(same)[0])
        raise StatsInputError(
            f"{int(same.sum())} rows compare a model with itself "
            f"(first at position {first}: model {models[int(code_a[first])]!r})"
        )
    swap = code_a > code_b
    model_i = np.where(swap, code_b, code_a)
    model_j = np.where(swap, code_a, code_b)
    outcome_class = np.rint(2.0 * np.where(swap, 1.0 - outcome_a, outcome_a)).astype(np.int64)
    # Prompts whose rows were all empty counts carry no ratings; do not keep them as units.
    used_prompts, prompt = unique_codes(prompt, n_prompts)
    n_prompts = len(used_prompts)
    m = len(models)
    if (n_prompts + 1) * m * m * 3 >= 2**62:
        raise StatsInputError(f"too many prompts ({n_prompts}) and models ({m}) to index")
    # One integer key per cell; sorting by it orders cells by prompt, then pair, then outcome.
    key = ((prompt * m + model_i) * m + model_j) * 3 + outcome_class
    cells, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.ravel()
    n_cells = len(cells)
    total_count = sum_by(inverse, count, n_cells)
    total_weight = sum_by(inverse, weight, n_cells)
    total_weight_sq = sum_by(inverse, weight_sq, n_cells)
    rest, outcome_class = np.divmod(cells, 3)
    rest, cell_j = np.divmod(rest, m)
    cell_prompt, cell_i = np.divmod(rest, m)
    return Comparisons(
        models=models,
        n_prompts=n_prompts,
        prompt=cell_prompt.astype(np.int64),
        model_i=cell_i.astype(np.int64),
        model_j=cell_j.astype(np.int64),
        outcome=outcome_class / 2.0,
        count=np.rint(total_count).astype(np.int64),
        weight=total_weight,
        weight_sq=total_weight_sq,
    )


def _require_columns(frame: object, required: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise StatsInputError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [name for name in required if name not in frame.columns]
    if missing:
        raise StatsInputError(
            f"missing columns {missing}; need {list(required)} (optional: '{WEIGHT_COLUMN}'), "
            f"got {[str(name) for name in frame.columns]}"
        )


def _series(values: object, name: str) -> pd.Series[Any]:
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    try:
        series = pd.Series(values)
    except (TypeError, ValueError) as error:
        raise StatsInputError(f"{name} must be one-dimensional array-like: {error}") from None
    return series


def _common_length(columns: dict[str, pd.Series[Any]]) -> int:
    lengths = {name: len(series) for name, series in columns.items()}
    if len(set(lengths.values())) > 1:
        raise StatsInputError(f"columns have different lengths: {lengths}")
    return next(iter(lengths.values()))


def _numeric(series: pd.Series[Any], name: str) -> FloatArray:
    # Object columns are fine when they hold numbers (Decimal from a database, say), not text.
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind not in _NUMERIC_KINDS:
        raise StatsInputError(f"{name} must be numeric, got values such as {_examples(series)}")
    try:
        return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    except (TypeError, ValueError):
        raise StatsInputError(
            f"{name} must be numeric, got values such as {_examples(series)}"
        ) from None


def _weights(series: pd.Series[Any], name: str) -> FloatArray:
    values = _numeric(series, name)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise StatsInputError(
            f"{name} must be finite and non-negative; {int(bad.sum())} rows are not, e.g. "
            f"{_examples(series[bad])}"
        )
    return values


def _counts(series: pd.Series[Any], name: str) -> IntArray:
    values = _numeric(series, name)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        raise StatsInputError(
            f"{name} must hold non-negative whole numbers; {int(bad.sum())} rows do not, e.g. "
            f"{_examples(series[bad])}"
        )
    return values.astype(np.int64)


def _factorize(series: pd.Series[Any], name: str) -> tuple[IntArray, tuple[Hashable, ...]]:
    missing = series.isna()
    if missing.any():
        raise StatsInputError(f"{name} has {int(missing.sum())} missing values")
    try:
        codes, uniques = pd.factorize(series, sort=True)
        labels: list[Hashable] = list(uniques.tolist())
    except TypeError:
        # Mixed id types (say ints and strings) do not sort; fall back to a stable textual order.
        codes, uniques = pd.factorize(series, sort=False)
        unsorted: list[Hashable] = list(uniques.tolist())
        order = sorted(
            range(len(unsorted)), key=lambda k: (type(unsorted[k]).__name__, str(unsorted[k]))
        )
        remap = np.empty(len(order), dtype=np.int64)
        remap[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
        codes = remap[codes]
        labels = [unsorted[k] for k in order]
    return np.asarray(codes, dtype=np.int64), tuple(labels)


def _model_codes(
    model_a: pd.Series[Any], model_b: pd.Series[Any], extra: Iterable[ModelId] | None
) -> tuple[IntArray, IntArray, tuple[ModelId, ...]]:
    n = len(model_a)
    for name, series in (("model_a", model_a), ("model_b", model_b)):
        missing = series.isna()
        if missing.any():
            raise StatsInputError(f"{name} has {int(missing.sum())} missing values")
    pieces = [model_a, model_b]
    if extra is not None:
        pieces.append(pd.Series(list(extra), dtype=object))
    codes, labels = _factorize(pd.concat(pieces, ignore_index=True), "model")
    return codes[:n], codes[n : 2 * n], labels


def _examples(series: pd.Series[Any], limit: int = 5) -> list[Any]:
    return list(pd.unique(series.to_numpy(dtype=object))[:limit].tolist())
