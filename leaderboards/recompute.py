"""What one recompute of a domain computes, in memory: the inputs, their fingerprint, every board.

Nothing here writes. `recompute_inputs_load` reads the approved ratings in aggregated form (the
database groups them), the auto-grading and the exposure flags, and fingerprints all of it with
the engine's parameters; `snapshot_draft_compute` runs the ranking engine on every board. The
services decide what to do with the result (leaderboards/services.py).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.utils.crypto import salted_hmac

from leaderboards.models import OVERALL_KEY, SnapshotBoard
from leaderboards.selectors import (
    AnswerStyles,
    CountRows,
    RatingRows,
    answer_styles,
    approved_answer_sums,
    approved_rating_rows,
    approved_summary,
    current_season,
    domain_categories,
    exposed_answers,
    graded_answers,
    prompt_category_pairs,
    published_board_elo,
)
from leaderboards.stats import (
    ENGINE_VERSION,
    AnswerSums,
    Comparisons,
    InsufficientDataError,
    Leaderboard,
    RankingConfig,
    StatsConvergenceError,
    StatsInputError,
    StyleControlled,
    StylePointFit,
    accuracy_interval,
    answer_diagnostics,
    rank_models,
    standing_differences,
    style_controlled,
    style_point_fit,
)
from leaderboards.stats.ratings_file import agreement_compute, ratings_file_body, ratings_group
from seal.models import Domain

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
# Bump when the snapshot content for the same input and engine changes (grading rules, say).
# 2: rank spreads and the style-controlled view are part of every board.
PIPELINE_VERSION = "2"
# Bump when what experts found (rubric-score means, tag rates, strengths) is computed otherwise.
DIAGNOSTICS_VERSION = "1"


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
    # What experts found: per (prompt, model) sums of scores and tags, the rubric's dimensions
    # and tags (key, label, scale) as they stand now, and each category's prompts.
    answers: AnswerSums | None = None
    rubric_meta: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    category_prompt_ids: dict[int, IntArray] = field(default_factory=dict)
    # The ratings one by one (the grouped rows above are computed from exactly these) and the
    # prompts' categories: what the anonymised ratings file of the snapshot holds.
    ratings: RatingRows | None = None
    prompt_categories: list[tuple[int, int]] = field(default_factory=list)
    # The season: the prompt set whose ratings count (the active one), None for every rating.
    prompt_set_id: int | None = None
    season: str | None = None

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
            "diagnostics": {
                "version": DIAGNOSTICS_VERSION,
                "resample": "prompt",
                "interval": "percentile",
                "strengths": "category minus overall Elo, centred on shared models; basic",
            },
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
    diagnostics: dict[str, Any] | None = None


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
    # The anonymised ratings file without its header (a gzip member; see ratings_file_compose).
    ratings_file_body: bytes | None = None
    ratings_file_header: dict[str, Any] = field(default_factory=dict)
    prompt_set_id: int | None = None


def _digest_arrays(digest: Any, *arrays: npt.NDArray[Any]) -> None:
    for array in arrays:
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        digest.update(b"|")


def recompute_inputs_load(*, domain: Domain) -> RecomputeInputs:
    """Read everything a recompute of `domain` depends on, and fingerprint it."""
    thresholds = Thresholds.from_settings()
    numeric = domain.answer_grading == Domain.AnswerGrading.NUMERIC
    # One query reads the ratings one by one; every board's grouped rows are computed from
    # them, so the ratings file written from the same arrays reproduces the boards exactly.
    season = current_season(domain_id=domain.pk)
    prompt_set_id = None if season is None else season[0]
    ratings = approved_rating_rows(domain_id=domain.pk, prompt_set_id=prompt_set_id)
    grouped = ratings_group(
        ratings.prompt, ratings.model_a, ratings.model_b, ratings.outcome, ratings.preference
    )
    overall = CountRows(*(getattr(grouped, name) for name in CountRows.FIELDS))
    categories = [CategoryInfo(*row) for row in domain_categories(domain_id=domain.pk)]
    pairs = prompt_category_pairs(domain_id=domain.pk)
    by_category: dict[int, CountRows] = {}
    if len(overall.prompt) and pairs:
        pair_array = np.array(pairs, dtype=np.int64)
        for category in categories:
            members = pair_array[pair_array[:, 1] == category.id, 0]
            rows = overall.take(np.flatnonzero(np.isin(overall.prompt, members)))
            if len(rows.prompt):
                by_category[category.id] = rows
    model_ids = np.unique(np.concatenate([overall.model_a, overall.model_b]))
    grades: Grades | None = None
    category_prompts: dict[int, IntArray] = {}
    if numeric and len(model_ids):
        graded = graded_answers(
            domain_id=domain.pk, model_ids=model_ids.tolist(), prompt_set_id=prompt_set_id
        )
        grades = Grades(
            model=np.array([row[0] for row in graded], dtype=np.int64),
            prompt=np.array([row[1] for row in graded], dtype=np.int64),
            correct=np.array([row[2] for row in graded], dtype=np.int64),
        )
        # Accuracy on a category board counts every graded answer in that category.
        category_prompts = _graded_category_prompts(pairs, grades, categories)
    exposed = exposed_answers(
        domain_id=domain.pk, model_ids=model_ids.tolist(), prompt_set_id=prompt_set_id
    )
    # Looked up per rated (prompt, pair) row, so only this season's answers are ever used.
    styles = answer_styles(domain_id=domain.pk)
    exposed_model = np.array([row[0] for row in exposed], dtype=np.int64)
    exposed_prompt = np.array([row[1] for row in exposed], dtype=np.int64)

    digest = hashlib.sha256(f"seal-leaderboard|{domain.pk}|{PIPELINE_VERSION}|".encode())
    if prompt_set_id is not None:
        digest.update(f"season|{prompt_set_id}|".encode())
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
    rubric_meta = _rubric_meta(domain)
    # The kept totals cover the whole domain: checked against the domain's rating count (the
    # season's would never match them), then cut to this season's prompts.
    domain_ratings = None if prompt_set_id is not None else overall.n_ratings
    answers = _answer_sums(domain.pk, rubric_meta, domain_ratings) if len(model_ids) else None
    if answers is not None and prompt_set_id is not None:
        answers = answers.restrict(np.unique(overall.prompt))
    digest.update(json.dumps(rubric_meta, sort_keys=True).encode())
    if answers is not None:
        for array in (answers.prompt, answers.model, answers.answers, answers.score_n):
            digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(answers.score_sum, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(answers.tag_count, dtype=np.int64).tobytes())
    category_prompt_ids: dict[int, IntArray] = {}
    if answers is not None and categories:
        members = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        for category in categories:
            category_prompt_ids[category.id] = np.unique(members[members[:, 1] == category.id, 0])
    data_digest = digest.hexdigest()
    seed = thresholds.seed if thresholds.seed is not None else int(data_digest[:8], 16) >> 1
    config = RankingConfig(
        replicas=thresholds.replicas, seed=seed, min_ratings=thresholds.min_ratings_per_model
    )
    summary = approved_summary(domain_id=domain.pk, prompt_set_id=prompt_set_id)
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
        answers=answers,
        rubric_meta=rubric_meta,
        category_prompt_ids=category_prompt_ids,
        ratings=ratings,
        prompt_categories=pairs,
        prompt_set_id=prompt_set_id,
        season=None if season is None else season[1],
    )
    record = json.dumps(inputs.config_record(), sort_keys=True, default=str)
    fingerprint = hashlib.sha256(f"{data_digest}|{record}".encode()).hexdigest()
    return RecomputeInputs(**{**inputs.__dict__, "fingerprint": fingerprint})


def _rubric_meta(domain: Domain) -> dict[str, list[dict[str, Any]]]:
    """The rubric's dimensions and issue tags as a snapshot keeps them (labels, not only keys)."""
    rubric = domain.parsed_rubric
    return {
        "dimensions": [
            {"key": d.key, "label": d.label, "min": d.scale.min, "max": d.scale.max}
            for d in rubric.dimensions
        ],
        "tags": [{"key": t.key, "label": t.label} for t in rubric.issue_tags],
    }


def _answer_sums(
    domain_id: int, rubric_meta: dict[str, list[dict[str, Any]]], ratings: int | None = None
) -> AnswerSums:
    """The database's per (prompt, model) score and tag sums, in (prompt, model) order."""
    dimensions = [d["key"] for d in rubric_meta["dimensions"]]
    tags = [t["key"] for t in rubric_meta["tags"]]
    matrix = approved_answer_sums(
        domain_id=domain_id, dimension_keys=dimensions, tag_keys=tags, ratings=ratings
    )
    matrix = matrix[np.lexsort((matrix[:, 1], matrix[:, 0]))]
    d = len(dimensions)
    return AnswerSums(
        prompt=matrix[:, 0].astype(np.int64),
        model=matrix[:, 1].astype(np.int64),
        answers=matrix[:, 2].astype(np.int64),
        score_sum=np.nan_to_num(matrix[:, 3 : 3 + d], nan=0.0),
        score_n=matrix[:, 3 + d : 3 + 2 * d].astype(np.int64),
        tag_count=matrix[:, 3 + 2 * d :].astype(np.int64),
    )


def _graded_category_prompts(
    pairs: list[tuple[int, int]], grades: Grades, categories: list[CategoryInfo]
) -> dict[int, IntArray]:
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
    overall_board, overall_ranking = _board_compute(
        inputs,
        rows=inputs.overall,
        key=OVERALL_KEY,
        category=None,
        position=0,
        graded_prompts=None,
    )
    boards = [overall_board]
    if on_board is not None:
        on_board(OVERALL_KEY)
    for position, category in enumerate(inputs.categories, start=1):
        rows = inputs.by_category.get(category.id, CountRows.empty())
        board, ranking = _board_compute(
            inputs,
            rows=rows,
            key=category.slug,
            category=category,
            position=position,
            graded_prompts=inputs.category_prompts.get(category.id, np.zeros(0, dtype=np.int64)),
        )
        if overall_ranking is not None and ranking is not None:
            _standing_attach(board, overall_ranking, ranking)
        boards.append(board)
        if on_board is not None:
            on_board(category.slug)
    overall = inputs.overall
    draft = SnapshotDraft(
        domain_id=inputs.domain_id,
        fingerprint=inputs.fingerprint,
        config=inputs.config_record(),
        agreement=agreement_compute(overall),
        n_ratings=overall.n_ratings,
        n_prompts=len(np.unique(overall.prompt)),
        n_models=len(np.unique(np.concatenate([overall.model_a, overall.model_b]))),
        ratings_through=inputs.ratings_through,
        boards=boards,
        prompt_set_id=inputs.prompt_set_id,
    )
    if inputs.ratings is None:
        return draft
    body, header = _ratings_file_parts(inputs, draft)
    return SnapshotDraft(
        **{**draft.__dict__, "ratings_file_body": body, "ratings_file_header": header}
    )


# --- The anonymised ratings file ----------------------------------------------------------------


def _secret() -> str:
    return str(settings.SEAL_RATINGS_FILE_SECRET or settings.SECRET_KEY)


def prompt_hash(*, domain_id: int, prompt_id: int) -> str:
    """A prompt's name in ratings files: keyed by a server-side secret, stable within a domain."""
    return salted_hmac(
        "seal.leaderboards.ratings-file.prompt",
        f"{domain_id}:{prompt_id}",
        secret=_secret(),
        algorithm="sha256",
    ).hexdigest()[:32]


def _rater_pseudonyms(fingerprint: str, annotator_ids: list[int]) -> dict[int, str]:
    """Per snapshot: "r1".."rN" in the order of a keyed hash of (snapshot input, annotator), so
    the same annotator gets unrelated names in two snapshots and the order says nothing."""
    keyed = sorted(
        annotator_ids,
        key=lambda annotator: salted_hmac(
            "seal.leaderboards.ratings-file.rater",
            f"{fingerprint}:{annotator}",
            secret=_secret(),
            algorithm="sha256",
        ).hexdigest(),
    )
    return {annotator: f"r{number}" for number, annotator in enumerate(keyed, start=1)}


def _ratings_file_parts(
    inputs: RecomputeInputs, draft: SnapshotDraft
) -> tuple[bytes, dict[str, Any]]:
    """The body of the snapshot's ratings file and its header (less what only the snapshot row
    knows: its id and creation time)."""
    ratings = inputs.ratings
    assert ratings is not None
    grades = inputs.grades
    prompt_ids = ratings.prompt
    if grades is not None:
        prompt_ids = np.concatenate([prompt_ids, grades.prompt])
    prompts = np.unique(prompt_ids)
    hashes = [prompt_hash(domain_id=inputs.domain_id, prompt_id=pid) for pid in prompts.tolist()]
    category_ids = {category.id for category in inputs.categories}
    per_prompt: dict[int, list[int]] = {}
    for prompt_id, category_id in inputs.prompt_categories:
        if category_id in category_ids:
            per_prompt.setdefault(prompt_id, []).append(category_id)
    prompt_categories = [sorted(per_prompt.get(pid, [])) for pid in prompts.tolist()]
    annotators = np.unique(ratings.annotator).tolist()
    names = _rater_pseudonyms(inputs.fingerprint, annotators)
    rater_names = [names[annotator] for annotator in annotators]
    rater_number = np.array([int(names[a][1:]) for a in annotators], dtype=np.int64)
    rater_code = np.searchsorted(np.array(annotators, dtype=np.int64), ratings.annotator)
    prompt_code = np.searchsorted(prompts, ratings.prompt)
    # Grouped by comparison, then by pseudonym: nothing of the approval order survives.
    order = np.lexsort(
        (
            ratings.preference,
            rater_number[rater_code],
            ratings.model_b,
            ratings.model_a,
            prompt_code,
        )
    )
    grade_columns = None
    if grades is not None:
        grade_order = np.lexsort((grades.model, grades.prompt))
        grade_columns = {
            "prompt": np.searchsorted(prompts, grades.prompt[grade_order]),
            "model": grades.model[grade_order],
            "correct": grades.correct[grade_order],
        }
    rated = np.isin(inputs.exposed_prompt, ratings.prompt)
    exposed = (
        np.unique(
            np.stack([inputs.exposed_prompt[rated], inputs.exposed_model[rated]], axis=1), axis=0
        )
        if rated.any()
        else np.zeros((0, 2), dtype=np.int64)
    )
    body = ratings_file_body(
        boards=[_board_record(board) for board in draft.boards],
        categories=[
            {"id": c.id, "slug": c.slug, "facet": c.facet, "value": c.value}
            for c in inputs.categories
        ],
        prompt_hashes=hashes,
        prompt_categories=prompt_categories,
        ratings={
            "prompt": prompt_code[order],
            "model_a": ratings.model_a[order],
            "model_b": ratings.model_b[order],
            "preference": ratings.preference[order],
            "outcome": ratings.outcome[order],
            "rater": rater_code[order],
        },
        raters=rater_names,
        grades=grade_columns,
        exposures={"prompt": np.searchsorted(prompts, exposed[:, 0]), "model": exposed[:, 1]},
    )
    header = {
        "fingerprint": inputs.fingerprint,
        "engine_version": ENGINE_VERSION,
        "pipeline_version": PIPELINE_VERSION,
        "seed": inputs.config.seed,
        "config": draft.config,
        "numeric": inputs.numeric,
        "season": {"prompt_set": inputs.prompt_set_id, "version": inputs.season},
        "ratings_through": draft.ratings_through.isoformat() if draft.ratings_through else None,
        "counts": {
            "n_ratings": draft.n_ratings,
            "n_prompts": draft.n_prompts,
            "n_models": draft.n_models,
            "n_raters": len(annotators),
            "n_prompt_records": len(hashes),
        },
        "agreement": draft.agreement,
        "anchor": {
            "snapshot": inputs.anchor_snapshot_id,
            "boards": {
                key: {str(model): elo for model, elo in sorted(values.items())}
                for key, values in sorted(inputs.anchors.items())
            },
        },
        "hashing": {
            "prompt": "HMAC-SHA256 under a server-side secret of (domain, prompt), first 32 hex "
            "digits: the same prompt has the same hash in every file of the domain, and nobody "
            "without the secret can tell which prompt text it stands for",
            "rater": "r1..rN numbered in the order of a keyed hash of (snapshot input, "
            "annotator): unrelated between snapshots",
        },
    }
    return body, header


def _board_record(board: BoardDraft) -> dict[str, Any]:
    return {
        "key": board.key,
        "category": board.category_id,
        "title": board.title,
        "position": board.position,
        "status": board.status,
        "n_ratings": board.n_ratings,
        "n_prompts": board.n_prompts,
        "n_models": board.n_models,
        "separability": board.separability,
        "entries": [
            {
                "model": entry.model_version_id,
                "position": entry.position,
                "rank": entry.rank,
                "rank_with_uncertainty": entry.rank_with_uncertainty,
                "elo": entry.elo,
                "lower": entry.lower,
                "upper": entry.upper,
                "standard_error": entry.standard_error,
                "n_ratings": entry.n_ratings,
                "wins": entry.wins,
                "ties": entry.ties,
                "losses": entry.losses,
                "accuracy": entry.accuracy,
                "accuracy_lower": entry.accuracy_lower,
                "accuracy_upper": entry.accuracy_upper,
                "accuracy_n": entry.accuracy_n,
                "contaminated": entry.contaminated,
                "few_ratings": entry.few_ratings,
                "not_ranked_reason": entry.not_ranked_reason,
            }
            for entry in board.entries
        ],
    }


def _number(value: float, digits: int = 4) -> float | None:
    """A finite float rounded for the snapshot's JSON; None for NaN."""
    return round(float(value), digits) if np.isfinite(value) else None


def _rounded(value: float, digits: int = 4) -> float | None:
    """`_number` for a Python float."""
    return round(value, digits) if math.isfinite(value) else None


def _ranked_elo(ranking: Leaderboard) -> tuple[IntArray, npt.NDArray[np.float64]]:
    """Model ids and Elo of the ranked models, in the order of the ranking's replicas."""
    lines = ranking.ranked
    models = np.array([int(line.model) for line in lines], dtype=np.int64)  # type: ignore[call-overload]
    return models, np.array([float(line.elo or 0.0) for line in lines])


def _standing_attach(board: BoardDraft, overall: Leaderboard, category: Leaderboard) -> None:
    """Add each model's category-minus-overall standing (with interval) to its entry."""
    if overall.elo_replicas is None or category.elo_replicas is None:
        return
    overall_models, overall_elo = _ranked_elo(overall)
    category_models, category_elo = _ranked_elo(category)
    result = standing_differences(
        overall_models=overall_models,
        overall_elo=overall_elo,
        overall_replicas=overall.elo_replicas,
        category_models=category_models,
        category_elo=category_elo,
        category_replicas=category.elo_replicas,
        confidence=category.config.confidence,
    )
    found = {
        int(model): {
            "difference": _number(result.difference[i], 1),
            "lower": _number(result.lower[i], 1),
            "upper": _number(result.upper[i], 1),
            "mark": {1: "strength", -1: "weakness"}.get(int(result.mark[i])),
        }
        for i, model in enumerate(result.models.tolist())
    }
    for index, entry in enumerate(board.entries):
        if entry.model_version_id in found:
            diagnostics = {**(entry.diagnostics or {}), "vs_overall": found[entry.model_version_id]}
            board.entries[index] = replace(entry, diagnostics=diagnostics)


def _answer_stats(
    inputs: RecomputeInputs, category: CategoryInfo | None
) -> tuple[dict[str, Any] | None, dict[int, dict[str, Any]]]:
    """The board's error sources and, per model, score means and tag rates with intervals."""
    sums = inputs.answers
    if sums is not None and category is not None:
        prompts = inputs.category_prompt_ids.get(category.id, np.zeros(0, dtype=np.int64))
        sums = sums.restrict(prompts)
    if sums is None or not len(sums.prompt):
        return None, {}
    config = inputs.config
    result = answer_diagnostics(
        sums, replicas=config.replicas, seed=config.seed, confidence=config.confidence
    )
    dimensions = inputs.rubric_meta.get("dimensions", [])
    tags = inputs.rubric_meta.get("tags", [])
    # Plain Python numbers first (tolist), then the same rounding as _number: indexing numpy
    # arrays element by element cost more than the bootstrap's quantiles.
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
                "rate": _number(result.pooled_rate[k]),
                "lower": _number(result.pooled_lower[k]),
                "upper": _number(result.pooled_upper[k]),
                "count": int(result.pooled_count[k]),
            }
            for k in result.error_order.tolist()
            if result.pooled_count[k] > 0
        ],
        "resample": "prompt",
        "interval": "percentile",
        "replicas": config.replicas,
        "confidence": config.confidence,
    }
    return board, per_model


def _board_compute(
    inputs: RecomputeInputs,
    *,
    rows: CountRows,
    key: str,
    category: CategoryInfo | None,
    position: int,
    graded_prompts: IntArray | None,
) -> tuple[BoardDraft, Leaderboard | None]:
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
    found, found_per_model = _answer_stats(inputs, category) if n_ratings else (None, {})
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
                    diagnostics=found_per_model.get(model_id),
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
                    diagnostics=found_per_model.get(model_id),
                    **accuracy.get(model_id, {}),
                )
            )
    if found is not None:
        data["findings"] = found
    board = BoardDraft(
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
    return board, leaderboard


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
