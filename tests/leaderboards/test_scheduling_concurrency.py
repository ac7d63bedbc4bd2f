"""On PostgreSQL, with real row locks: concurrent completions of one submission complete it once,
and concurrent scheduling runs and seeds never pass the budget or repeat a pair."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.utils import timezone

from annotation.models import ComparisonTask
from annotation.selectors import domain_ratings_committed
from annotation.services import comparisons_schedule
from leaderboards.models import EvaluationProgress, SchedulingJob
from leaderboards.services import scheduling_job_run, submission_complete
from seal.models import Submission
from tests.leaderboards.test_scheduling import pool_join, world_with_newcomer
from tests.support import require_postgres

pytestmark = pytest.mark.django_db(transaction=True)


def in_threads(count: int, target) -> list:
    barrier = threading.Barrier(count)
    results: list = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            value = target()
            with lock:
                results.append(value)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_completions_complete_a_submission_exactly_once():
    require_postgres()
    world, submission = world_with_newcomer(n_models=3, n_prompts=4)
    submission.status = Submission.Status.COMPARING
    submission.save()
    EvaluationProgress.objects.create(
        submission=submission,
        domain=world.domain,
        target_half_width=20,
        lower=990,
        upper=1010,
        elo=1000,
        done_reason="precision",
        done_at=timezone.now(),
    )
    results = in_threads(8, lambda: submission_complete(submission_id=submission.pk))
    assert sorted(results) == [False] * 7 + [True]
    submission.refresh_from_db()
    assert submission.status == Submission.Status.COMPLETED
    assert submission.status_detail.startswith("Evaluation complete. coding: Interval reached")


def test_concurrent_runs_and_seeds_never_pass_the_budget_nor_repeat_a_pair(settings):
    require_postgres()
    settings.SEAL_SCHEDULING_HORIZON_HOURS = 100_000
    settings.SEAL_SCHEDULING_SEED_COMPARISONS = 8
    world, submission = world_with_newcomer(n_models=6, n_prompts=20)
    pool_join(world)
    budget = domain_ratings_committed(domain_id=world.domain.pk) + 3 * 30 + 1
    world.domain.rating_budget = budget
    world.domain.save()
    comparisons_schedule(submission_id=submission.pk)
    # A second newcomer is seeded while runs are in flight (they lock the domain row too).
    second = Submission.objects.create(
        model_version=world.models[-2], status=Submission.Status.COLLECTED
    )
    second.domains.add(world.domain)
    active = SchedulingJob.objects.create(domain=world.domain, enqueued_at=timezone.now())

    calls = iter(
        [lambda: scheduling_job_run(job_id=active.pk)] * 4
        + [lambda: comparisons_schedule(submission_id=second.pk)] * 2
    )
    lock = threading.Lock()

    def next_call():
        with lock:
            call = next(calls)
        return call()

    in_threads(6, next_call)
    assert domain_ratings_committed(domain_id=world.domain.pk) <= budget
    pairs = list(
        ComparisonTask.objects.filter(domain=world.domain).values_list(
            "response_a_id", "response_b_id"
        )
    )
    assert len(pairs) == len(set(pairs))
    active.refresh_from_db()
    assert active.status == "succeeded" and active.attempts == 1
