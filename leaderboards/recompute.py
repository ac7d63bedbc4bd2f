"""What one recompute of a domain computes, in memory: every board of a snapshot, from its inputs.

Pure computation: `snapshot_draft_compute` takes the `RecomputeInputs` that
leaderboards/recompute_inputs.py read and returns the `SnapshotDraft` that
leaderboards/services.py publishes. Per board (`_board_compute`): the engine's ranking
(`stats.board.board_core`, which the reproduction from a ratings file runs too), the
style-controlled view fitted inside its bootstrap (`stats.board.StyleFitting`, the same), what
experts found (`_answer_stats`), strengths against the overall board (`_standing_attach`); then the
source of the snapshot's anonymised ratings file (`_ratings_file_parts`). Nothing here reads
the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.utils.crypto import salted_hmac

from leaderboards.models import OVERALL_KEY, SnapshotBoard
from leaderboards.recompute_inputs import (
    PIPELINE_VERSION,
    CategoryInfo,
    RecomputeInputs,
    Thresholds,
)
from leaderboards.stats import (
    ENGINE_VERSION,
    Leaderboard,
    standing_differences,
)
from leaderboards.stats.board import (
    ENTRY_FIELDS,
    NO_RANKABLE_PAIR,
    STYLE_ENTRY_FIELDS,
    TOO_FEW_RATINGS,
    BoardCore,
    GroupedRows,
    StyleFitting,
    board_core,
    board_findings,
    style_lines,
)
from leaderboards.stats.board import finding_number as _number
from leaderboards.stats.ratings_file import (
    SPREAD_FIELDS,
    STYLE_COUNT_COLUMNS,
    agreement_compute,
    answer_sum_columns,
    ratings_source_pack,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


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
    # What the anonymised ratings file is written from (ratings_source_pack), and its header
    # less what only the snapshot row knows; the file is formatted at its first download.
    ratings_file_source: bytes | None = None
    ratings_file_header: dict[str, Any] = field(default_factory=dict)
    prompt_set_id: int | None = None


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
        rows = inputs.by_category.get(category.id, GroupedRows.empty())
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
    arguments, header = _ratings_file_parts(inputs, draft)
    return SnapshotDraft(
        **{
            **draft.__dict__,
            "ratings_file_source": ratings_source_pack(**arguments),
            "ratings_file_header": header,
        }
    )


# --- One board -------------------------------------------------------------------------------


def _board_compute(
    inputs: RecomputeInputs,
    *,
    rows: GroupedRows,
    key: str,
    category: CategoryInfo | None,
    position: int,
    graded_prompts: IntArray | None,
) -> tuple[BoardDraft, Leaderboard | None]:
    """One board: the engine's ranking (shared with the reproduction from a ratings file), the
    style-controlled view fitted inside its bootstrap, and what experts found."""
    thresholds = inputs.thresholds
    style_fit = StyleFitting(
        inputs.styles, rows, ridge=inputs.config.ridge, confidence=inputs.config.confidence
    )
    core = board_core(
        rows,
        config=inputs.config,
        min_ratings_per_board=thresholds.min_ratings_per_board,
        few_ratings=thresholds.few_ratings,
        anchor=inputs.anchors.get(key),
        grades=None if inputs.grades is None else inputs.grades.columns(),
        graded_prompts=graded_prompts,
        exposures=inputs.exposure_columns(),
        extra_columns=style_fit.prompt_scores,
    )
    leaderboard = core.leaderboard
    found, found_per_model = _answer_stats(inputs, category) if core.n_ratings else (None, {})
    style = None if leaderboard is None else style_fit.finish(leaderboard)
    board = BoardDraft(
        key=key,
        category_id=category.id if category else None,
        facet=category.facet if category else "",
        title=category.title if category else "Overall",
        position=position,
        status=SnapshotBoard.Status(core.status),
        status_detail=_status_detail(core, thresholds),
        n_ratings=core.n_ratings,
        n_prompts=core.n_prompts,
        n_models=core.n_models,
        separability=core.separability,
        has_accuracy=bool(core.accuracy),
        data=_board_data(inputs, leaderboard, found),
        entries=_entry_drafts(core, found_per_model, {} if style is None else style_lines(style)),
        style=None if style is None else style.to_dict(),
    )
    return board, leaderboard


def _status_detail(core: BoardCore, thresholds: Thresholds) -> str:
    """Why a board is not ranked, as its page says it."""
    if core.reason == TOO_FEW_RATINGS:
        return (
            f"{core.n_ratings} approved ratings; a board is ranked from "
            f"{thresholds.min_ratings_per_board}."
        )
    if core.reason == NO_RANKABLE_PAIR:
        return (
            f"Fewer than two models have {thresholds.min_ratings_per_model} ratings "
            "against each other, with a win and a loss, in one connected group."
        )
    return ""


def _board_data(
    inputs: RecomputeInputs, leaderboard: Leaderboard | None, found: dict[str, Any] | None
) -> dict[str, Any]:
    """The board's stored JSON: the engine's board (without its lines, which are the entries)
    with the snapshot its scale is anchored on, and the board's error sources."""
    data: dict[str, Any] = {}
    if leaderboard is not None:
        data = leaderboard.to_dict()
        data.pop("models", None)
        data["anchor"]["snapshot"] = (
            inputs.anchor_snapshot_id if leaderboard.anchor.models else None
        )
    if found is not None:
        data["findings"] = found
    return data


def _entry_drafts(
    core: BoardCore,
    found_per_model: dict[int, dict[str, Any]],
    style_lines: dict[int, dict[str, Any]],
) -> list[EntryDraft]:
    """The board's entries: the engine's numbers, each model's findings and style view."""
    return [
        EntryDraft(
            model_version_id=entry["model"],
            **{name: value for name, value in entry.items() if name != "model"},
            diagnostics=found_per_model.get(entry["model"]),
            **style_lines.get(entry["model"], {}),
        )
        for entry in core.entries
    ]


# --- Findings and standings: what experts found, strengths against the overall board ----------


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
    return board_findings(
        sums,
        dimensions=inputs.rubric_meta.get("dimensions", []),
        tags=inputs.rubric_meta.get("tags", []),
        replicas=config.replicas,
        seed=config.seed,
        confidence=config.confidence,
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
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The arguments of `ratings_file_body` for the snapshot's ratings file (sorted,
    pseudonymised, prompts hashed) and its header (less what only the snapshot row knows: its
    id and creation time)."""
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
    arguments = {
        "boards": [_board_record(board) for board in draft.boards],
        "styles": _style_records(inputs, prompts),
        "answer_sums": _answer_sum_records(inputs, prompts),
        "categories": [
            {"id": c.id, "slug": c.slug, "facet": c.facet, "value": c.value}
            for c in inputs.categories
        ],
        "prompt_hashes": hashes,
        "prompt_categories": prompt_categories,
        "ratings": {
            "prompt": prompt_code[order],
            "model_a": ratings.model_a[order],
            "model_b": ratings.model_b[order],
            "preference": ratings.preference[order],
            "outcome": ratings.outcome[order],
            "rater": rater_code[order],
        },
        "raters": rater_names,
        "grades": grade_columns,
        "exposures": {"prompt": np.searchsorted(prompts, exposed[:, 0]), "model": exposed[:, 1]},
    }
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
        "rubric": inputs.rubric_meta if inputs.answers is not None else None,
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
    return arguments, header


def _style_records(inputs: RecomputeInputs, prompts: IntArray) -> dict[str, IntArray] | None:
    """The style counts (integers, no text) of every rated answer that has them, by prompt code
    then model: what the style fit of a reproduction needs, nothing more."""
    if inputs.styles is None or inputs.ratings is None:
        return None
    # Every answer rated on a board, as one int64 key per (prompt, model): a 1-D unique of the
    # grouped rows is a fraction of the time of a row-wise unique of the ratings.
    rows = inputs.overall
    keys = np.unique(
        np.concatenate([(rows.prompt << 32) | rows.model_a, (rows.prompt << 32) | rows.model_b])
    )
    answers = np.stack([keys >> 32, keys & 0xFFFFFFFF], axis=1)
    counts, found = inputs.styles.locate(answers[:, 1], answers[:, 0])
    answers, counts = answers[found], counts[found]
    columns = {
        "prompt": np.searchsorted(prompts, answers[:, 0]),
        "model": answers[:, 1],
    }
    columns.update({name: counts[:, i] for i, name in enumerate(STYLE_COUNT_COLUMNS)})
    return columns


def _answer_sum_records(
    inputs: RecomputeInputs, prompts: IntArray
) -> dict[str, npt.NDArray[Any]] | None:
    """Per rated answer (prompt code, model): how many ratings, and the sums and counts of their
    rubric scores and issue tags (numbers only): what the findings of a reproduction need."""
    sums = inputs.answers
    if sums is None:
        return None
    return answer_sum_columns(
        prompt=np.searchsorted(prompts, sums.prompt),
        model=sums.model,
        answers=sums.answers,
        score_sum=sums.score_sum,
        score_n=sums.score_n,
        tag_count=sums.tag_count,
    )


def _board_record(board: BoardDraft) -> dict[str, Any]:
    """A board's "board" record in the ratings file: the fields a reproduction must match."""
    return {
        "style": board.style,
        "findings": board.data.get("findings"),
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
            {"model": entry.model_version_id}
            | {
                key: getattr(entry, key)
                for key in ENTRY_FIELDS + SPREAD_FIELDS + STYLE_ENTRY_FIELDS
            }
            | {"diagnostics": entry.diagnostics}
            for entry in board.entries
        ],
    }
