"""What one recompute of a domain computes, in memory: the inputs, their fingerprint, every board.

Nothing here writes. `recompute_inputs_load` reads the approved ratings in aggregated form (the
database groups them), the auto-grading and the exposure flags, and fingerprints all of it with
the engine's parameters; `snapshot_draft_compute` runs the ranking engine on every board. The
services decide what to do with the result (leaderboards/services.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings

from leaderboards.models import OVERALL_KEY, SnapshotBoard
from leaderboards.selectors import (
    AnswerStyles,
    CountRows,
    answer_styles,
    approved_counts,
    approved_counts_by_category,
    approved_summary,
    domain_categories,
    exposed_answers,
    graded_answers,
    prompt_category_pairs,
    published_board_elo,
)
from leaderboards.stats import (
    ENGINE_VERSION,
    Comparisons,
    InsufficientDataError,
    Leaderboard,
    RankingConfig,
    StatsConvergenceError,
    StatsInputError,
    StyleControlled,
    StylePointFit,
    accuracy_interval,
    krippendorff_alpha_long,
    rank_models,
    style_controlled,
    style_point_fit,
)
from seal.models import Domain

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
# Bump when the snapshot content for the same input and engine changes (grading rules, say).
# 2: rank spreads and the style-controlled view are part of every board.
PIPELINE_VERSION = "2"
PREFERENCE_VALUES = (-2.0, -1.0, 0.0, 1.0, 2.0)


@dataclass(frozen=True)
class Thresholds:
    replicas: int
    min_ratings_per_model: int
    min_ratings_per_board: int
    few_ratings: int
    seed: int | None

    @classmethod
    def from_settings(cls) -> Thresholds:
        seed = settings.SEAL_LEADERBOARD_SEED
        return cls(
            replicas=int(settings.SEAL_LEADERBOARD_REPLICAS),
            min_ratings_per_model=int(settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL),
            min_ratings_per_board=int(settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD),
            few_ratings=int(settings.SEAL_LEADERBOARD_FEW_RATINGS),
            seed=None if seed is None else int(seed),
        )


@dataclass(frozen=True)
class CategoryInfo:
    id: int
    facet: str
    value: str
    slug: str

    @property
    def title(self) -> str:
        return f"{self.facet.replace('_', ' ').capitalize()}: {self.value}"


@dataclass(frozen=True, eq=False)
class Grades:
    """One auto-graded answer per (model, prompt): 1 correct, 0 wrong."""

    model: IntArray
    prompt: IntArray
    correct: IntArray


@dataclass(frozen=True, eq=False)
class RecomputeInputs:
    domain_id: int
    numeric: bool
    overall: CountRows
    by_category: dict[int, CountRows]
    categories: list[CategoryInfo]
    category_prompts: dict[int, IntArray]
    grades: Grades | None
    exposed_model: IntArray
    exposed_prompt: IntArray
    thresholds: Thresholds
    config: RankingConfig
    fingerprint: str
    ratings_through: datetime | None
    styles: AnswerStyles | None = None
    # The published snapshot whose ranked Elo anchors the scale, per board key. Not part of
    # the fingerprint: the same ratings re-published must not make a new snapshot each time.
    anchor_snapshot_id: int | None = None
    anchors: dict[str, dict[int, float]] = field(default_factory=dict)

    def config_record(self) -> dict[str, Any]:
        """The parameters a snapshot stores: enough to reproduce it."""
        return {
            "ranking": self.config.to_dict(),
            "min_ratings_per_board": self.thresholds.min_ratings_per_board,
            "few_ratings": self.thresholds.few_ratings,
            "seed_source": "setting" if self.thresholds.seed is not None else "fingerprint",
            "engine_version": ENGINE_VERSION,
            "pipeline_version": PIPELINE_VERSION,
            "numpy": np.__version__,
            "accuracy": "wilson" if self.numeric else None,
            "style_control": "bradley_terry_style_covariates",
        }


@dataclass(frozen=True)
class EntryDraft:
    model_version_id: int
    position: int
    rank: int | None
    rank_with_uncertainty: int | None
    elo: float | None
    lower: float | None
    upper: float | None
    standard_error: float | None
    n_ratings: int
    wins: int
    ties: int
    losses: int
    accuracy: float | None = None
    accuracy_lower: float | None = None
    accuracy_upper: float | None = None
    accuracy_n: int | None = None
    contaminated: bool = False
    few_ratings: bool = False
    not_ranked_reason: str | None = None
    rank_lower: int | None = None
    rank_upper: int | None = None
    style_elo: float | None = None
    style_lower: float | None = None
    style_upper: float | None = None
    style_rank: int | None = None
    style_rank_lower: int | None = None
    style_rank_upper: int | None = None


@dataclass(frozen=True)
class BoardDraft:
    key: str
    category_id: int | None
    facet: str
    title: str
    position: int
    status: str
    status_detail: str
    n_ratings: int
    n_prompts: int
    n_models: int
    separability: float | None
    has_accuracy: bool
    data: dict[str, Any]
    entries: list[EntryDraft] = field(default_factory=list)
    style: dict[str, Any] | None = None


@dataclass(frozen=True)
class SnapshotDraft:
    domain_id: int
    fingerprint: str
    config: dict[str, Any]
    agreement: dict[str, Any] | None
    n_ratings: int
    n_prompts: int
    n_models: int
    ratings_through: datetime | None
    boards: list[BoardDraft]


def _digest_arrays(digest: Any, *arrays: npt.NDArray[Any]) -> None:
    for array in arrays:
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        digest.update(b"|")


def recompute_inputs_load(*, domain: Domain) -> RecomputeInputs:
    """Read everything a recompute of `domain` depends on, and fingerprint it."""
    thresholds = Thresholds.from_settings()
    numeric = domain.answer_grading == Domain.AnswerGrading.NUMERIC
    overall = approved_counts(domain_id=domain.pk).sorted()
    category_rows, category_ids = approved_counts_by_category(domain_id=domain.pk)
    categories = [CategoryInfo(*row) for row in domain_categories(domain_id=domain.pk)]
    by_category: dict[int, CountRows] = {}
    if len(category_ids):
        order = np.argsort(category_ids, kind="stable")
        bounds = np.flatnonzero(np.diff(category_ids[order])) + 1
        for chunk in np.split(order, bounds):
            by_category[int(category_ids[chunk[0]])] = category_rows.take(chunk).sorted()
    model_ids = np.unique(np.concatenate([overall.model_a, overall.model_b]))
    grades: Grades | None = None
    category_prompts: dict[int, IntArray] = {}
    if numeric and len(model_ids):
        graded = graded_answers(domain_id=domain.pk, model_ids=model_ids.tolist())
        grades = Grades(
            model=np.array([row[0] for row in graded], dtype=np.int64),
            prompt=np.array([row[1] for row in graded], dtype=np.int64),
            correct=np.array([row[2] for row in graded], dtype=np.int64),
        )
        # Accuracy on a category board counts every graded answer in that category.
        category_prompts = _graded_category_prompts(domain.pk, grades, categories)
    exposed = exposed_answers(domain_id=domain.pk, model_ids=model_ids.tolist())
    styles = answer_styles(domain_id=domain.pk)
    exposed_model = np.array([row[0] for row in exposed], dtype=np.int64)
    exposed_prompt = np.array([row[1] for row in exposed], dtype=np.int64)

    digest = hashlib.sha256(f"seal-leaderboard|{domain.pk}|{PIPELINE_VERSION}|".encode())
    overall.digest_update(digest)
    for category in categories:
        digest.update(f"category|{category.id}|{category.facet}|{category.value}|".encode())
        if category.id in by_category:
            by_category[category.id].digest_update(digest)
    if grades is not None:
        order = np.lexsort((grades.prompt, grades.model))
        _digest_arrays(digest, grades.model[order], grades.prompt[order], grades.correct[order])
    order = np.lexsort((exposed_prompt, exposed_model))
    _digest_arrays(digest, exposed_model[order], exposed_prompt[order])
    digest.update(b"styles|")
    styles.digest_update(digest)
    data_digest = digest.hexdigest()
    seed = thresholds.seed if thresholds.seed is not None else int(data_digest[:8], 16) >> 1
    config = RankingConfig(
        replicas=thresholds.replicas, seed=seed, min_ratings=thresholds.min_ratings_per_model
    )
    summary = approved_summary(domain_id=domain.pk)
    anchor_snapshot_id, anchors = published_board_elo(domain_id=domain.pk)
    inputs = RecomputeInputs(
        domain_id=domain.pk,
        numeric=numeric,
        overall=overall,
        by_category=by_category,
        categories=categories,
        category_prompts=category_prompts,
        grades=grades,
        exposed_model=exposed_model,
        exposed_prompt=exposed_prompt,
        thresholds=thresholds,
        config=config,
        fingerprint="",
        ratings_through=summary,
        anchor_snapshot_id=anchor_snapshot_id,
        anchors=anchors,
        styles=styles,
    )
    record = json.dumps(inputs.config_record(), sort_keys=True, default=str)
    fingerprint = hashlib.sha256(f"{data_digest}|{record}".encode()).hexdigest()
    return RecomputeInputs(**{**inputs.__dict__, "fingerprint": fingerprint})


def _graded_category_prompts(
    domain_id: int, grades: Grades, categories: list[CategoryInfo]
) -> dict[int, IntArray]:
    pairs = prompt_category_pairs(domain_id=domain_id)
    graded = set(grades.prompt.tolist())
    result: dict[int, list[int]] = {category.id: [] for category in categories}
    for prompt_id, category_id in pairs:
        if prompt_id in graded and category_id in result:
            result[category_id].append(prompt_id)
    return {key: np.unique(np.array(value, dtype=np.int64)) for key, value in result.items()}


def snapshot_draft_compute(
    inputs: RecomputeInputs, *, on_board: Callable[[str], None] | None = None
) -> SnapshotDraft:
    """Run the engine on the overall board and every category board of the inputs."""
    boards = [
        _board_compute(
            inputs,
            rows=inputs.overall,
            key=OVERALL_KEY,
            category=None,
            position=0,
            graded_prompts=None,
        )
    ]
    if on_board is not None:
        on_board(OVERALL_KEY)
    for position, category in enumerate(inputs.categories, start=1):
        rows = inputs.by_category.get(category.id, CountRows.empty())
        boards.append(
            _board_compute(
                inputs,
                rows=rows,
                key=category.slug,
                category=category,
                position=position,
                graded_prompts=inputs.category_prompts.get(
                    category.id, np.zeros(0, dtype=np.int64)
                ),
            )
        )
        if on_board is not None:
            on_board(category.slug)
    overall = inputs.overall
    return SnapshotDraft(
        domain_id=inputs.domain_id,
        fingerprint=inputs.fingerprint,
        config=inputs.config_record(),
        agreement=_agreement(overall),
        n_ratings=overall.n_ratings,
        n_prompts=len(np.unique(overall.prompt)),
        n_models=len(np.unique(np.concatenate([overall.model_a, overall.model_b]))),
        ratings_through=inputs.ratings_through,
        boards=boards,
    )


def _agreement(rows: CountRows) -> dict[str, Any] | None:
    """Krippendorff's alpha on the 5-point preference; a comparison (prompt, pair) is the unit."""
    counts = np.stack(
        [
            rows.much_b,
            rows.wins_b - rows.much_b,
            rows.ties,
            rows.wins_a - rows.much_a,
            rows.much_a,
        ]
    )
    per_unit = counts.sum(axis=0)
    keep = per_unit >= 2
    if not keep.any():
        return None
    counts = counts[:, keep]
    units = np.repeat(np.tile(np.arange(counts.shape[1]), 5), counts.ravel())
    values = np.repeat(np.repeat(np.array(PREFERENCE_VALUES), counts.shape[1]), counts.ravel())
    try:
        result = krippendorff_alpha_long(
            units, values, level="ordinal", value_domain=PREFERENCE_VALUES
        )
    except StatsInputError:
        return None
    return result.to_dict()


def _board_compute(
    inputs: RecomputeInputs,
    *,
    rows: CountRows,
    key: str,
    category: CategoryInfo | None,
    position: int,
    graded_prompts: IntArray | None,
) -> BoardDraft:
    thresholds = inputs.thresholds
    n_ratings = rows.n_ratings
    board_models = np.unique(np.concatenate([rows.model_a, rows.model_b]))
    status = SnapshotBoard.Status.RANKED
    detail = ""
    leaderboard: Leaderboard | None = None
    comparisons: Comparisons | None = None
    not_ranked: dict[Any, str] = {}
    style_fit = _StyleFitting(inputs, rows)
    if n_ratings:
        comparisons = Comparisons.from_count_arrays(
            prompt=rows.prompt,
            model_a=rows.model_a,
            model_b=rows.model_b,
            wins_a=rows.wins_a,
            ties=rows.ties,
            wins_b=rows.wins_b,
        )
    if n_ratings < thresholds.min_ratings_per_board or comparisons is None:
        status = SnapshotBoard.Status.INSUFFICIENT
        detail = (
            f"{n_ratings} approved ratings; a board is ranked from "
            f"{thresholds.min_ratings_per_board}."
        )
    else:
        try:
            leaderboard = rank_models(
                comparisons,
                inputs.config,
                anchor=inputs.anchors.get(key),
                extra_columns=style_fit.prompt_scores,
            )
        except InsufficientDataError as exc:
            status = SnapshotBoard.Status.INSUFFICIENT
            detail = (
                f"Fewer than two models have {thresholds.min_ratings_per_model} ratings "
                "against each other, with a win and a loss, in one connected group."
            )
            not_ranked = exc.not_ranked

    accuracy = _accuracy(inputs, board_models, graded_prompts)
    contaminated = _contaminated(inputs, rows)
    entries: list[EntryDraft] = []
    data: dict[str, Any] = {}
    separability: float | None = None
    style: StyleControlled | None = None
    style_lines: dict[int, dict[str, Any]] = {}
    if leaderboard is not None:
        style = style_fit.finish(leaderboard)
        if style is not None:
            style_lines = _style_lines(style)
        data = leaderboard.to_dict()
        data.pop("models", None)
        data["anchor"]["snapshot"] = (
            inputs.anchor_snapshot_id if leaderboard.anchor.models else None
        )
        separability = leaderboard.separability
        for index, line in enumerate(leaderboard.models):
            model_id = int(line.model)  # type: ignore[call-overload]
            entries.append(
                EntryDraft(
                    model_version_id=model_id,
                    position=index,
                    rank=line.rank,
                    rank_with_uncertainty=line.rank_with_uncertainty,
                    elo=line.elo,
                    lower=line.lower,
                    upper=line.upper,
                    standard_error=line.standard_error,
                    n_ratings=line.n_ratings,
                    wins=line.wins,
                    ties=line.ties,
                    losses=line.losses,
                    few_ratings=line.n_ratings < thresholds.few_ratings,
                    contaminated=model_id in contaminated,
                    not_ranked_reason=line.not_ranked_reason,
                    rank_lower=line.rank_lower,
                    rank_upper=line.rank_upper,
                    **accuracy.get(model_id, {}),
                    **style_lines.get(model_id, {}),
                )
            )
    elif comparisons is not None:
        tallies = comparisons.tallies()
        order = np.lexsort((np.arange(comparisons.n_models), -tallies.ratings))
        for index, code in enumerate(order):
            model_id = int(comparisons.models[int(code)])  # type: ignore[call-overload]
            entries.append(
                EntryDraft(
                    model_version_id=model_id,
                    position=index,
                    rank=None,
                    rank_with_uncertainty=None,
                    elo=None,
                    lower=None,
                    upper=None,
                    standard_error=None,
                    n_ratings=int(tallies.ratings[code]),
                    wins=int(tallies.wins[code]),
                    ties=int(tallies.ties[code]),
                    losses=int(tallies.losses[code]),
                    few_ratings=True,
                    contaminated=model_id in contaminated,
                    not_ranked_reason=not_ranked.get(comparisons.models[int(code)]),
                    **accuracy.get(model_id, {}),
                )
            )
    return BoardDraft(
        key=key,
        category_id=category.id if category else None,
        facet=category.facet if category else "",
        title=category.title if category else "Overall",
        position=position,
        status=status,
        status_detail=detail,
        n_ratings=n_ratings,
        n_prompts=len(np.unique(rows.prompt)),
        n_models=len(board_models),
        separability=separability,
        has_accuracy=bool(accuracy),
        data=data,
        entries=entries,
        style=None if style is None else style.to_dict(),
    )


def _style_rows(styles: AnswerStyles | None, rows: CountRows) -> tuple[IntArray, IntArray, Any]:
    """The stored style counts of both answers of every row, and whether both were found."""
    if styles is None:
        empty = np.zeros((len(rows.prompt), 5), dtype=np.int64)
        return empty, empty, np.zeros(len(rows.prompt), dtype=np.bool_)
    style_a, found_a = styles.locate(rows.model_a, rows.prompt)
    style_b, found_b = styles.locate(rows.model_b, rows.prompt)
    return style_a, style_b, found_a & found_b


class _StyleFitting:
    """The board's style-controlled view, fitted inside the plain board's bootstrap.

    `rank_models` calls `prompt_scores` with the ratings between the ranked models and their
    fitted strengths; the per-prompt scores it returns ride along with the plain replicas'
    prompt counts, so the style view's intervals come from the very same draws."""

    def __init__(self, inputs: RecomputeInputs, rows: CountRows) -> None:
        self.inputs = inputs
        self.rows = rows
        self.fit: StylePointFit | None = None

    def prompt_scores(self, used: Comparisons, beta: FloatArray) -> FloatArray | None:
        rows = self.rows
        style_a, style_b, found = _style_rows(self.inputs.styles, rows)
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
                ridge=self.inputs.config.ridge,
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
        if self.fit is None or leaderboard.extra_replicas is None:
            return None
        ranked = leaderboard.ranked
        elo = {line.model: line.elo for line in ranked}
        mean = float(np.mean([elo[model] for model in self.fit.models]))
        return style_controlled(
            self.fit,
            leaderboard.extra_replicas,
            confidence=self.inputs.config.confidence,
            elo_mean=mean,
        )


def _style_lines(style: StyleControlled) -> dict[int, dict[str, Any]]:
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


def _accuracy(
    inputs: RecomputeInputs, models: IntArray, graded_prompts: IntArray | None
) -> dict[int, dict[str, Any]]:
    grades = inputs.grades
    if grades is None or not len(grades.model):
        return {}
    mask = np.isin(grades.model, models)
    if graded_prompts is not None:
        mask &= np.isin(grades.prompt, graded_prompts)
    result: dict[int, dict[str, Any]] = {}
    for model_id in np.unique(grades.model[mask]).tolist():
        correct = grades.correct[mask & (grades.model == model_id)]
        interval = accuracy_interval(correct)
        result[int(model_id)] = {
            "accuracy": interval.accuracy,
            "accuracy_lower": interval.lower,
            "accuracy_upper": interval.upper,
            "accuracy_n": interval.n,
        }
    return result


def _contaminated(inputs: RecomputeInputs, rows: CountRows) -> set[int]:
    """Models with an answer to one of this board's prompts given after their lab saw it."""
    if not len(inputs.exposed_model) or not rows.n_ratings:
        return set()
    in_board = np.isin(inputs.exposed_prompt, rows.prompt)
    return {int(model) for model in np.unique(inputs.exposed_model[in_board]).tolist()}
