"""One board from grouped ratings: who is ranked, their numbers, accuracy and contamination flags.

The recompute (leaderboards/recompute.py) and the reproduction from a ratings file
(ratings_file.py) both build their boards with `board_core`, so a published board and its
reproduction come from the same code. Plain numpy; nothing of Django or of the project.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from .accuracy import accuracy_interval
from .data import Comparisons
from .diagnostics import AnswerSums, answer_diagnostics
from .errors import InsufficientDataError, StatsConvergenceError, StatsInputError
from .ranking import Leaderboard, RankingConfig, rank_models
from .style import StyleControlled, StylePointFit, style_controlled, style_point_fit

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
RANKED, INSUFFICIENT = "ranked", "insufficient"
# Why a board is not ranked: too few ratings, or no two models rankable against each other.
TOO_FEW_RATINGS, NO_RANKABLE_PAIR = "too_few_ratings", "no_rankable_pair"


@dataclass(frozen=True, eq=False)
class GroupedRows:
    """Ratings grouped by (prompt, model_a, model_b), with outcome and strong-preference counts."""

    prompt: IntArray
    model_a: IntArray
    model_b: IntArray
    wins_a: IntArray
    ties: IntArray
    wins_b: IntArray
    much_a: IntArray
    much_b: IntArray

    FIELDS = ("prompt", "model_a", "model_b", "wins_a", "ties", "wins_b", "much_a", "much_b")

    @classmethod
    def from_matrix(cls, matrix: IntArray) -> GroupedRows:
        """Rows from a matrix whose columns are FIELDS, in that order."""
        return cls(*(np.ascontiguousarray(matrix[:, i]) for i in range(len(cls.FIELDS))))

    @classmethod
    def empty(cls) -> GroupedRows:
        """No rows."""
        return cls.from_matrix(np.zeros((0, len(cls.FIELDS)), dtype=np.int64))

    @property
    def n_ratings(self) -> int:
        """Ratings in these rows."""
        return int(self.wins_a.sum() + self.ties.sum() + self.wins_b.sum())

    def take(self, index: IntArray) -> GroupedRows:
        """The rows at `index`, in that order."""
        return GroupedRows(*(getattr(self, name)[index] for name in self.FIELDS))

    def sorted(self) -> GroupedRows:
        """The rows in (prompt, model_a, model_b) order, whatever order they came in."""
        return self.take(np.lexsort((self.model_b, self.model_a, self.prompt)))

    def digest_update(self, digest: Any) -> None:
        """Feed every column to a hashlib digest (the recompute's input fingerprint)."""
        for name in self.FIELDS:
            digest.update(np.ascontiguousarray(getattr(self, name), dtype=np.int64).tobytes())
            digest.update(b"|")


def ratings_group(
    prompt: npt.ArrayLike,
    model_a: npt.ArrayLike,
    model_b: npt.ArrayLike,
    outcome: npt.ArrayLike,
    preference: npt.ArrayLike,
) -> GroupedRows:
    """One row per (prompt, model_a, model_b), sorted so, with win/tie/loss and strong-preference
    counts."""
    p = np.asarray(prompt, dtype=np.int64)
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    twice = np.rint(np.asarray(outcome, dtype=np.float64) * 2).astype(np.int64)
    pref = np.asarray(preference, dtype=np.int64)
    if not len(p):
        return GroupedRows.empty()
    order = np.lexsort((b, a, p))
    p, a, b, twice, pref = p[order], a[order], b[order], twice[order], pref[order]
    new = np.ones(len(p), dtype=bool)
    new[1:] = (p[1:] != p[:-1]) | (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    starts = np.flatnonzero(new)

    def count(mask: npt.NDArray[np.bool_]) -> IntArray:
        return np.add.reduceat(mask.astype(np.int64), starts)

    return GroupedRows(
        prompt=p[starts],
        model_a=a[starts],
        model_b=b[starts],
        wins_a=count(twice == 2),
        ties=count(twice == 1),
        wins_b=count(twice == 0),
        much_a=count(pref == 2),
        much_b=count(pref == -2),
    )


def category_rows(rows: GroupedRows, prompts: IntArray) -> GroupedRows:
    """The rows on the given prompts (a category's), in the same order."""
    return rows.take(np.flatnonzero(np.isin(rows.prompt, prompts)))


# The fields of every entry of a board, as published and as reproduced.
ENTRY_FIELDS = (
    "position",
    "rank",
    "rank_with_uncertainty",
    "elo",
    "lower",
    "upper",
    "standard_error",
    "n_ratings",
    "wins",
    "ties",
    "losses",
    "accuracy",
    "accuracy_lower",
    "accuracy_upper",
    "accuracy_n",
    "contaminated",
    "few_ratings",
    "not_ranked_reason",
)
_NO_ACCURACY: dict[str, Any] = dict.fromkeys(
    ("accuracy", "accuracy_lower", "accuracy_upper", "accuracy_n")
)


@dataclass(frozen=True, eq=False)
class BoardCore:
    """A board as the engine and the counts give it, before the recompute's extras.

    `entries` are dicts keyed "model" and ENTRY_FIELDS (plus "rank_lower"/"rank_upper" of a
    ranked model), in published order."""

    status: str
    reason: str | None
    n_ratings: int
    n_prompts: int
    n_models: int
    models: IntArray
    leaderboard: Leaderboard | None
    entries: list[dict[str, Any]] = field(default_factory=list)
    # Per model with graded answers on the board: its accuracy fields.
    accuracy: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def separability(self) -> float | None:
        """The ranked board's separability; None when not ranked."""
        return None if self.leaderboard is None else self.leaderboard.separability


def board_core(
    rows: GroupedRows,
    *,
    config: RankingConfig,
    min_ratings_per_board: int,
    few_ratings: int,
    anchor: Mapping[Any, float] | None,
    grades: Mapping[str, IntArray] | None,
    graded_prompts: IntArray | None,
    exposures: Mapping[str, IntArray],
    extra_columns: Callable[[Comparisons, FloatArray], FloatArray | None] | None = None,
) -> BoardCore:
    """Rank a board's rows (or say why not) and list its entries with accuracy and flags.

    `grades` holds parallel arrays model, prompt, correct (None: the domain is not graded);
    `exposures` model, prompt. `extra_columns` rides along the bootstrap (see rank_models)."""
    n_ratings = rows.n_ratings
    models = np.unique(np.concatenate([rows.model_a, rows.model_b]))
    comparisons = None
    if n_ratings:
        comparisons = Comparisons.from_count_arrays(
            prompt=rows.prompt,
            model_a=rows.model_a,
            model_b=rows.model_b,
            wins_a=rows.wins_a,
            ties=rows.ties,
            wins_b=rows.wins_b,
        )
    status, reason = RANKED, None
    leaderboard = None
    not_ranked: dict[Any, str] = {}
    if n_ratings < min_ratings_per_board or comparisons is None:
        status, reason = INSUFFICIENT, TOO_FEW_RATINGS
    else:
        try:
            leaderboard = rank_models(
                comparisons, config, anchor=anchor, extra_columns=extra_columns
            )
        except InsufficientDataError as exc:
            status, reason = INSUFFICIENT, NO_RANKABLE_PAIR
            not_ranked = exc.not_ranked
    accuracy = board_accuracy(grades, models, graded_prompts)
    contaminated = board_contaminated(exposures, rows)
    entries: list[dict[str, Any]] = []
    if leaderboard is not None:
        for position, line in enumerate(leaderboard.models):
            model_id = int(line.model)  # type: ignore[call-overload]
            entries.append(
                {
                    "model": model_id,
                    "position": position,
                    "rank": line.rank,
                    "rank_with_uncertainty": line.rank_with_uncertainty,
                    "elo": line.elo,
                    "lower": line.lower,
                    "upper": line.upper,
                    "standard_error": line.standard_error,
                    "n_ratings": line.n_ratings,
                    "wins": line.wins,
                    "ties": line.ties,
                    "losses": line.losses,
                    "few_ratings": line.n_ratings < few_ratings,
                    "contaminated": model_id in contaminated,
                    "not_ranked_reason": line.not_ranked_reason,
                    "rank_lower": line.rank_lower,
                    "rank_upper": line.rank_upper,
                    **_NO_ACCURACY,
                    **accuracy.get(model_id, {}),
                }
            )
    elif comparisons is not None:
        tallies = comparisons.tallies()
        order = np.lexsort((np.arange(comparisons.n_models), -tallies.ratings))
        for position, code in enumerate(order.tolist()):
            model_id = int(comparisons.models[code])
            entries.append(
                {
                    "model": model_id,
                    "position": position,
                    "rank": None,
                    "rank_with_uncertainty": None,
                    "elo": None,
                    "lower": None,
                    "upper": None,
                    "standard_error": None,
                    "n_ratings": int(tallies.ratings[code]),
                    "wins": int(tallies.wins[code]),
                    "ties": int(tallies.ties[code]),
                    "losses": int(tallies.losses[code]),
                    "few_ratings": True,
                    "contaminated": model_id in contaminated,
                    "not_ranked_reason": not_ranked.get(comparisons.models[code]),
                    **_NO_ACCURACY,
                    **accuracy.get(model_id, {}),
                }
            )
    return BoardCore(
        status=status,
        reason=reason,
        n_ratings=n_ratings,
        n_prompts=len(np.unique(rows.prompt)),
        n_models=len(models),
        models=models,
        leaderboard=leaderboard,
        entries=entries,
        accuracy=accuracy,
    )


def board_accuracy(
    grades: Mapping[str, IntArray] | None, models: IntArray, graded_prompts: IntArray | None
) -> dict[int, dict[str, Any]]:
    """Per model of the board: accuracy with its Wilson interval over its graded answers (on
    `graded_prompts` only, when given)."""
    if grades is None or not len(grades["model"]):
        return {}
    mask = np.isin(grades["model"], models)
    if graded_prompts is not None:
        mask &= np.isin(grades["prompt"], graded_prompts)
    result: dict[int, dict[str, Any]] = {}
    for model_id in np.unique(grades["model"][mask]).tolist():
        interval = accuracy_interval(grades["correct"][mask & (grades["model"] == model_id)])
        result[int(model_id)] = {
            "accuracy": interval.accuracy,
            "accuracy_lower": interval.lower,
            "accuracy_upper": interval.upper,
            "accuracy_n": interval.n,
        }
    return result


def board_contaminated(exposures: Mapping[str, IntArray], rows: GroupedRows) -> set[int]:
    """Models with an answer to one of the board's prompts given after their lab saw it."""
    if not len(exposures["model"]) or not rows.n_ratings:
        return set()
    in_board = np.isin(exposures["prompt"], rows.prompt)
    return {int(model) for model in np.unique(exposures["model"][in_board]).tolist()}


# --- The style-controlled view ---------------------------------------------------------------

# The fields of an entry's line on the style-controlled view, as published and as reproduced.
STYLE_ENTRY_FIELDS = (
    "style_elo",
    "style_lower",
    "style_upper",
    "style_rank",
    "style_rank_lower",
    "style_rank_upper",
)


@dataclass(frozen=True, eq=False)
class AnswerStyles:
    """Style counts of collected answers: one row per (model, prompt), columns tokens, headers,
    list items, bold, code blocks (the recompute's prompt ids, or a ratings file's prompt codes)."""

    model: IntArray
    prompt: IntArray
    counts: IntArray

    @cached_property
    def _sorted(self) -> tuple[IntArray, IntArray]:
        keys = (self.model << 32) | self.prompt
        order = np.argsort(keys, kind="stable")
        return keys[order], order

    def locate(self, model: IntArray, prompt: IntArray) -> tuple[IntArray, Any]:
        """The counts of the answers (model[k], prompt[k]), and whether each is stored."""
        keys, order = self._sorted
        if not len(keys):
            return np.zeros((len(model), self.counts.shape[1]), dtype=np.int64), np.zeros(
                len(model), dtype=np.bool_
            )
        wanted = (model << 32) | prompt
        position = np.searchsorted(keys, wanted).clip(0, len(keys) - 1)
        return self.counts[order[position]], keys[position] == wanted

    def digest_update(self, digest: Any) -> None:
        """Feed every column to a hashlib digest (the recompute's input fingerprint)."""
        order = np.lexsort((self.prompt, self.model))
        for array in (self.model[order], self.prompt[order], self.counts[order]):
            digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
            digest.update(b"|")


def style_rows(styles: AnswerStyles | None, rows: GroupedRows) -> tuple[IntArray, IntArray, Any]:
    """The stored style counts of both answers of every row, and whether both were found."""
    if styles is None:
        empty = np.zeros((len(rows.prompt), 5), dtype=np.int64)
        return empty, empty, np.zeros(len(rows.prompt), dtype=np.bool_)
    style_a, found_a = styles.locate(rows.model_a, rows.prompt)
    style_b, found_b = styles.locate(rows.model_b, rows.prompt)
    return style_a, style_b, found_a & found_b


class StyleFitting:
    """A board's style-controlled view, fitted inside the plain board's bootstrap.

    `rank_models` calls `prompt_scores` (board_core's `extra_columns`) with the ratings between
    the ranked models and their fitted strengths; the per-prompt scores it returns ride along with
    the plain replicas' prompt counts, so the style view's intervals come from the very same
    draws. The recompute and the reproduction from a ratings file both fit with this class."""

    def __init__(
        self, styles: AnswerStyles | None, rows: GroupedRows, *, ridge: float, confidence: float
    ) -> None:
        self.styles = styles
        self.rows = rows
        self.ridge = ridge
        self.confidence = confidence
        self.fit: StylePointFit | None = None

    def prompt_scores(self, used: Comparisons, beta: FloatArray) -> FloatArray | None:
        """The style fit's per-prompt scores for the bootstrap; None: no style view."""
        rows = self.rows
        style_a, style_b, found = style_rows(self.styles, rows)
        if not found.any():
            return None
        try:
            fit = style_point_fit(
                prompt=rows.prompt,
                model_a=rows.model_a,
                model_b=rows.model_b,
                wins_a=rows.wins_a,
                ties=rows.ties,
                wins_b=rows.wins_b,
                style_a=style_a,
                style_b=style_b,
                has_style=found,
                models=used.models,
                ridge=self.ridge,
                start=beta,
            )
        except (StatsInputError, StatsConvergenceError):
            # A board whose style cannot be fitted keeps its plain view and shows no style view.
            return None
        if fit.n_prompts != used.n_prompts:
            return None
        self.fit = fit
        return fit.scores

    def finish(self, leaderboard: Leaderboard) -> StyleControlled | None:
        """The style-controlled view from the fit and the bootstrap's ridden-along replicas."""
        if self.fit is None or leaderboard.extra_replicas is None:
            return None
        ranked = leaderboard.ranked
        elo = {line.model: line.elo for line in ranked}
        mean = float(np.mean([elo[model] for model in self.fit.models]))
        return style_controlled(
            self.fit,
            leaderboard.extra_replicas,
            confidence=self.confidence,
            elo_mean=mean,
        )


def style_lines(style: StyleControlled) -> dict[int, dict[str, Any]]:
    """Per model of the style-controlled view: its STYLE_ENTRY_FIELDS."""
    lines: dict[int, dict[str, Any]] = {}
    for code, model in enumerate(style.models):
        lines[int(model)] = {  # type: ignore[call-overload]
            "style_elo": float(style.elo[code]),
            "style_lower": float(style.lower[code]),
            "style_upper": float(style.upper[code]),
            "style_rank": int(style.rank_with_uncertainty[code]),
            "style_rank_lower": None if style.rank_lower is None else int(style.rank_lower[code]),
            "style_rank_upper": None if style.rank_upper is None else int(style.rank_upper[code]),
        }
    return lines


# --- What experts found ----------------------------------------------------------------------


def finding_number(value: float, digits: int = 4) -> float | None:
    """A finite float rounded for the snapshot's JSON; None for NaN."""
    return round(float(value), digits) if np.isfinite(value) else None


def _rounded(value: float, digits: int = 4) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def board_findings(
    sums: AnswerSums | None,
    *,
    dimensions: list[dict[str, Any]],
    tags: list[dict[str, Any]],
    replicas: int,
    seed: int,
    confidence: float,
) -> tuple[dict[str, Any] | None, dict[int, dict[str, Any]]]:
    """A board's error sources and, per model, score means and tag rates with intervals, from
    its answers' score and tag sums (the recompute and the reproduction both call this)."""
    if sums is None or not len(sums.prompt):
        return None, {}
    result = answer_diagnostics(sums, replicas=replicas, seed=seed, confidence=confidence)
    # Plain Python numbers first (tolist), then the same rounding as finding_number: indexing
    # numpy arrays element by element cost more than the bootstrap's quantiles.
    mean, low, high = (
        a.tolist() for a in (result.score_mean, result.score_lower, result.score_upper)
    )
    rate, tag_low, tag_high = (
        a.tolist() for a in (result.tag_rate, result.tag_lower, result.tag_upper)
    )
    score_n, tag_count = result.score_n.tolist(), result.tag_count.tolist()
    answers = result.answers.tolist()
    per_model: dict[int, dict[str, Any]] = {}
    for i, model in enumerate(result.models.tolist()):
        per_model[int(model)] = {
            "answers": int(answers[i]),
            "dimensions": [
                {
                    "key": dimension["key"],
                    "label": dimension["label"],
                    "mean": _rounded(mean[i][j]),
                    "lower": _rounded(low[i][j]),
                    "upper": _rounded(high[i][j]),
                    "n": int(score_n[i][j]),
                }
                for j, dimension in enumerate(dimensions)
            ],
            "tags": [
                {
                    "key": tag["key"],
                    "label": tag["label"],
                    "rate": _rounded(rate[i][k]),
                    "lower": _rounded(tag_low[i][k]),
                    "upper": _rounded(tag_high[i][k]),
                    "count": int(tag_count[i][k]),
                }
                for k, tag in enumerate(tags)
            ],
        }
    board = {
        "answers": result.pooled_answers,
        "dimensions": dimensions,
        "tags": tags,
        "error_sources": [
            {
                "key": tags[k]["key"],
                "label": tags[k]["label"],
                "rate": finding_number(result.pooled_rate[k]),
                "lower": finding_number(result.pooled_lower[k]),
                "upper": finding_number(result.pooled_upper[k]),
                "count": int(result.pooled_count[k]),
            }
            for k in result.error_order.tolist()
            if result.pooled_count[k] > 0
        ],
        "resample": "prompt",
        "interval": "percentile",
        "replicas": replicas,
        "confidence": confidence,
    }
    return board, per_model
