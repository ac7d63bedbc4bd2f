"""What one adaptive scheduling run of a domain reads and decides, in memory; nothing here writes.

`scheduling_state_load` reads the domain's ratings per model pair, the comparisons still open,
the models with collected answers, the submissions under evaluation, the latest published board
and the pool's capacity. `evaluations_assess` applies the stopping rule per submission;
`comparisons_plan` runs the pure selection (leaderboards/stats/scheduling.py) within the budget
and the pool's horizon and turns each picked model pair into a concrete (prompt, answers) pair
that is not compared yet. The services write the outcome (leaderboards/services.py).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db.models import Count, F, Sum

from annotation.models import RATINGS_PER_COMPARISON, ApprovedRating, ComparisonTask
from annotation.selectors import PoolCapacity, domain_pool_capacity, domain_ratings_committed
from leaderboards.models import (
    OVERALL_KEY,
    EvaluationProgress,
    PublishedLeaderboard,
    SnapshotEntry,
)
from leaderboards.stats.scheduling import (
    BoardLine,
    SelectionConfig,
    comparisons_select,
    pair_record,
    ratings_needed,
    stopping_reason,
)
from seal.models import Domain, PromptSet, Response, Submission


def target_half_width(domain: Domain) -> float:
    """The domain's precision target in Elo points (its own, or the setting)."""
    if domain.target_half_width is not None:
        return float(domain.target_half_width)
    return float(settings.SEAL_SCHEDULING_TARGET_HALF_WIDTH)


@dataclass
class EvaluationState:
    """One submission's evaluation in the domain as this run sees it."""

    submission_id: int
    model_id: int
    ratings_done: int
    ratings_scheduled: int
    elo: float | None
    lower: float | None
    upper: float | None
    ratings_needed: int | None
    estimated_finish: datetime | None
    done_reason: str
    already_done: bool


@dataclass
class SchedulingState:
    domain: Domain
    now: datetime
    budget: int | None
    committed: int
    capacity: PoolCapacity
    target_half_width: float
    snapshot_id: int | None
    board: list[BoardLine]
    # Per model pair (a < b by id): [points of a, ratings] done and ratings still to come.
    done: dict[tuple[int, int], tuple[float, int]]
    pending: dict[tuple[int, int], int]
    # Model -> {prompt id: response id} of collected answers in the active set.
    answers: dict[int, dict[int, int]]
    existing_pairs: set[tuple[int, int]]
    prompt_load: dict[int, int]
    evaluations: list[EvaluationState] = field(default_factory=list)

    @property
    def budget_left(self) -> int | None:
        return None if self.budget is None else max(0, self.budget - self.committed)


def _published_board(domain_id: int) -> tuple[int | None, list[BoardLine]]:
    pointer = PublishedLeaderboard.objects.filter(domain_id=domain_id).first()
    if pointer is None:
        return None, []
    entries = SnapshotEntry.objects.filter(
        snapshot_id=pointer.snapshot_id, board_key=OVERALL_KEY, rank__isnull=False
    ).values_list("model_version_id", "elo", "lower", "upper")
    return pointer.snapshot_id, [
        BoardLine(model=m, elo=e, lower=lo, upper=up)
        for m, e, lo, up in entries
        if e is not None and lo is not None and up is not None
    ]


def pending_by_pair(*, domain_id: int) -> dict[tuple[int, int], int]:
    """Ratings still to come on the domain's open comparisons, per model pair (a < b)."""
    pending: dict[tuple[int, int], int] = defaultdict(int)
    for a, b, left in (
        ComparisonTask.objects.filter(
            domain_id=domain_id, status=ComparisonTask.Status.OPEN, is_gold=False
        )
        .annotate(left=RATINGS_PER_COMPARISON - F("approved_count"))
        .values_list("response_a__model_version_id", "response_b__model_version_id", "left")
    ):
        pending[(min(a, b), max(a, b))] += int(left)
    return dict(pending)


def scheduling_state_load(*, domain: Domain, now: datetime) -> SchedulingState:
    """Everything one scheduling run of the domain needs, read in a handful of queries."""
    done: dict[tuple[int, int], tuple[float, int]] = {}
    for a, b, points, count in (
        ApprovedRating.objects.filter(domain_id=domain.pk)
        .values_list("model_a_id", "model_b_id")
        .annotate(points=Sum("outcome"), n=Count("id"))
        .values_list("model_a_id", "model_b_id", "points", "n")
    ):
        key, pts = ((a, b), float(points)) if a < b else ((b, a), float(count - points))
        old = done.get(key, (0.0, 0))
        done[key] = (old[0] + pts, old[1] + int(count))
    pending = pending_by_pair(domain_id=domain.pk)
    prompt_set = PromptSet.objects.filter(domain=domain, status=PromptSet.Status.ACTIVE).first()
    answers: dict[int, dict[int, int]] = defaultdict(dict)
    if prompt_set is not None:
        for model_id, prompt_id, response_id in Response.objects.filter(
            prompt__prompt_set=prompt_set, status=Response.Status.OK
        ).values_list("model_version_id", "prompt_id", "pk"):
            answers[model_id][prompt_id] = response_id
    tasks = ComparisonTask.objects.filter(domain_id=domain.pk, is_gold=False)
    existing_pairs = set(tasks.values_list("response_a_id", "response_b_id"))
    prompt_load: dict[int, int] = defaultdict(int)
    for prompt_id, count in tasks.values_list("prompt_id").annotate(n=Count("id")):
        prompt_load[prompt_id] = int(count)
    snapshot_id, board = _published_board(domain.pk)
    return SchedulingState(
        domain=domain,
        now=now,
        budget=domain.rating_budget,
        committed=domain_ratings_committed(domain_id=domain.pk),
        capacity=domain_pool_capacity(domain=domain, now=now),
        target_half_width=target_half_width(domain),
        snapshot_id=snapshot_id,
        board=board,
        done=done,
        pending=pending,
        answers=dict(answers),
        existing_pairs=existing_pairs,
        prompt_load=dict(prompt_load),
    )


def evaluations_assess(state: SchedulingState) -> list[EvaluationState]:
    """The stopping rule for every submission under evaluation in the domain."""
    submissions = list(
        Submission.objects.filter(status=Submission.Status.COMPARING, domains=state.domain)
        .values_list("pk", "model_version_id")
        .distinct()
    )
    finished = set(
        EvaluationProgress.objects.filter(domain=state.domain)
        .exclude(done_reason="")
        .values_list("submission_id", flat=True)
    )
    lines = {line.model: line for line in state.board}
    queue_hours = state.capacity.hours_for(state.capacity.open_ratings)
    budget_left = state.budget_left
    result = []
    for submission_id, model_id in submissions:
        ratings_done = sum(n for pair, (_, n) in state.done.items() if model_id in pair)
        scheduled = sum(n for pair, n in state.pending.items() if model_id in pair)
        line = lines.get(model_id)
        reason = ""
        needed: int | None = None
        if line is not None:
            reason = (
                stopping_reason(
                    model=model_id, board=state.board, target_half_width=state.target_half_width
                )
                or ""
            )
            needed = ratings_needed(
                half_width=(line.upper - line.lower) / 2.0,
                target_half_width=state.target_half_width,
                ratings_done=ratings_done,
            )
        if not reason and model_id not in state.answers:
            reason = EvaluationProgress.Reason.NO_COMPARISONS
        if (
            not reason
            and budget_left is not None
            and budget_left < RATINGS_PER_COMPARISON
            and scheduled == 0
        ):
            reason = EvaluationProgress.Reason.BUDGET
        finish = None
        if not reason and queue_hours is not None:
            # The queue ahead is rated first; what is not scheduled yet comes after it.
            extra = state.capacity.hours_for(max(0, (needed or 0) - scheduled))
            if extra is not None:
                finish = state.now + timedelta(hours=queue_hours + extra)
        result.append(
            EvaluationState(
                submission_id=submission_id,
                model_id=model_id,
                ratings_done=ratings_done,
                ratings_scheduled=scheduled,
                elo=None if line is None else line.elo,
                lower=None if line is None else line.lower,
                upper=None if line is None else line.upper,
                ratings_needed=0 if reason else needed,
                estimated_finish=finish,
                done_reason=str(reason),
                already_done=submission_id in finished,
            )
        )
    state.evaluations = result
    return result


@dataclass(frozen=True)
class PlannedComparison:
    prompt_id: int
    response_1: int
    response_2: int
    models: tuple[int, int]


@dataclass(frozen=True)
class Plan:
    comparisons: list[PlannedComparison]
    limit: int
    limited_by: str
    open_contrasts: int


def comparisons_limit(state: SchedulingState) -> tuple[int, str]:
    """How many comparisons this run may add: the budget left, the pool's horizon, the cap."""
    if state.budget is None:
        return 0, "no budget"
    by_budget = (state.budget_left or 0) // RATINGS_PER_COMPARISON
    horizon = float(settings.SEAL_SCHEDULING_HORIZON_HOURS)
    room = state.capacity.ratings_per_hour * horizon - state.capacity.open_ratings
    by_pool = max(0, math.floor(room / RATINGS_PER_COMPARISON))
    cap = int(settings.SEAL_SCHEDULING_MAX_PER_RUN)
    limit, reason = min((by_budget, "budget"), (by_pool, "pool capacity"), (cap, "per-run cap"))
    return max(0, limit), reason


def comparisons_plan(state: SchedulingState) -> Plan:
    """The comparisons to add: picked by the selection, mapped to prompts not compared yet."""
    limit, limited_by = comparisons_limit(state)
    # A model whose evaluation ended (now or in an earlier run) is no longer a target.
    targets_ids = {e.model_id for e in state.evaluations if not (e.done_reason or e.already_done)}
    models = sorted(state.answers)
    if limit <= 0 or len(models) < 2 or not targets_ids & set(models):
        return Plan(comparisons=[], limit=limit, limited_by=limited_by, open_contrasts=0)
    code = {model: k for k, model in enumerate(models)}
    known = [
        (pair, state.done.get(pair, (0.0, 0)), state.pending.get(pair, 0))
        for pair in set(state.done) | set(state.pending)
        if pair[0] in code and pair[1] in code
    ]
    record = pair_record(
        n_models=len(models),
        pair_i=np.array([code[p[0]] for p, _, _ in known], dtype=np.int64),
        pair_j=np.array([code[p[1]] for p, _, _ in known], dtype=np.int64),
        points_i=np.array([d[0] for _, d, _ in known], dtype=np.float64),
        ratings=np.array([d[1] for _, d, _ in known], dtype=np.float64),
        pending=np.array([n for _, _, n in known], dtype=np.float64),
    )
    # Capacity of a pair: prompts both answered, less those they are compared on already.
    prompt_ids = sorted({p for a in state.answers.values() for p in a})
    column = {p: k for k, p in enumerate(prompt_ids)}
    matrix = np.zeros((len(models), len(prompt_ids)))
    for model, answered in state.answers.items():
        matrix[code[model], [column[p] for p in answered]] = 1.0
    common = matrix @ matrix.T
    used: dict[tuple[int, int], int] = defaultdict(int)
    response_model = {r: m for m, answered in state.answers.items() for r in answered.values()}
    for a, b in state.existing_pairs:
        ma, mb = response_model.get(a), response_model.get(b)
        if ma is not None and mb is not None:
            used[(code[ma], code[mb]) if code[ma] < code[mb] else (code[mb], code[ma])] += 1
    ci, cj = np.triu_indices(len(models), 1)
    capacity = common[ci, cj].astype(np.int64) - np.array(
        [used.get((int(i), int(j)), 0) for i, j in zip(ci, cj, strict=True)], dtype=np.int64
    )
    targets = np.array([m in targets_ids for m in models], dtype=bool)
    selection = comparisons_select(
        n_models=len(models),
        record=record,
        targets=targets,
        candidate_i=ci,
        candidate_j=cj,
        candidate_capacity=np.maximum(capacity, 0),
        limit=limit,
        config=SelectionConfig(target_half_width=state.target_half_width),
    )
    planned: list[PlannedComparison] = []
    taken = set(state.existing_pairs)
    load = dict(state.prompt_load)
    for i, j in zip(selection.pair_i, selection.pair_j, strict=True):
        first, second = state.answers[models[int(i)]], state.answers[models[int(j)]]
        choices = [
            p
            for p in first.keys() & second.keys()
            if (min(first[p], second[p]), max(first[p], second[p])) not in taken
        ]
        if not choices:
            continue
        # The least used prompt: a pair's comparisons spread over prompts, and so does the load.
        prompt_id = min(choices, key=lambda p: (load.get(p, 0), p))
        r1, r2 = first[prompt_id], second[prompt_id]
        taken.add((min(r1, r2), max(r1, r2)))
        load[prompt_id] = load.get(prompt_id, 0) + 1
        planned.append(
            PlannedComparison(
                prompt_id=prompt_id,
                response_1=r1,
                response_2=r2,
                models=(models[int(i)], models[int(j)]),
            )
        )
    return Plan(
        comparisons=planned,
        limit=limit,
        limited_by=limited_by,
        open_contrasts=selection.open_contrasts,
    )
