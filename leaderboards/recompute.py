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
from django.utils.crypto import salted_hmac

from leaderboards.models import OVERALL_KEY, SnapshotBoard
from leaderboards.selectors import (
    CountRows,
    RatingRows,
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
    Comparisons,
    InsufficientDataError,
    Leaderboard,
    RankingConfig,
    StatsInputError,
    accuracy_interval,
    krippendorff_alpha_long,
    rank_models,
)
from leaderboards.stats.ratings_file import ratings_file_body, ratings_group
from seal.models import Domain

IntArray = npt.NDArray[np.int64]
# Bump when the snapshot content for the same input and engine changes (grading rules, say).
PIPELINE_VERSION = "1"
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
    # The published snapshot whose ranked Elo anchors the scale, per board key. Not part of
    # the fingerprint: the same ratings re-published must not make a new snapshot each time.
    anchor_snapshot_id: int | None = None
    anchors: dict[str, dict[int, float]] = field(default_factory=dict)
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
        ratings=ratings,
        prompt_categories=pairs,
        prompt_set_id=prompt_set_id,
        season=None if season is None else season[1],
    )
    record = json.dumps(inputs.config_record(), sort_keys=True, default=str)
    fingerprint = hashlib.sha256(f"{data_digest}|{record}".encode()).hexdigest()
    return RecomputeInputs(**{**inputs.__dict__, "fingerprint": fingerprint})


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
    draft = SnapshotDraft(
        domain_id=inputs.domain_id,
        fingerprint=inputs.fingerprint,
        config=inputs.config_record(),
        agreement=_agreement(overall),
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
            leaderboard = rank_models(comparisons, inputs.config, anchor=inputs.anchors.get(key))
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
    if leaderboard is not None:
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
                    **accuracy.get(model_id, {}),
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
    )


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
