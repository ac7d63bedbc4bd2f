"""Adaptive scheduling as a job: within the budget and the pool's capacity, never a duplicate
pair; the stopping rule completes a submission exactly once; a lost run is swept and rerun."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import RATINGS_PER_COMPARISON, ComparisonTask
from annotation.selectors import domain_pool_capacity, domain_ratings_committed
from annotation.services import comparison_tasks_add, comparisons_schedule
from leaderboards.models import EvaluationProgress, SchedulingJob
from leaderboards.services import (
    leaderboards_publish_now,
    scheduling_job_run,
    scheduling_jobs_sweep,
    scheduling_request,
    submission_complete,
)
from seal.models import Submission, WebhookDelivery
from seal.services import lab_api_key_create, webhook_endpoint_create
from tests.builders import LeaderboardWorld, api_client, leaderboard_world
from tests.factories import LabFactory, UserFactory

pytestmark = pytest.mark.django_db


def world_with_newcomer(
    n_models: int = 6, n_prompts: int = 30
) -> tuple[LeaderboardWorld, Submission]:
    """Established models rated on a few prompts; the last model is new, submitted, unrated."""
    world = leaderboard_world(n_models=n_models, n_prompts=n_prompts)
    established = world.models[:-1]
    pairs = [(a, b) for k, a in enumerate(established) for b in established[k + 1 :]]
    world.rate(prompts=world.prompts[:4], pairs=pairs)
    submission = Submission.objects.create(
        model_version=world.models[-1], status=Submission.Status.COLLECTED
    )
    submission.domains.add(world.domain)
    return world, submission


def pool_join(world: LeaderboardWorld) -> None:
    for rater in world.raters:
        rater.domains.add(world.domain)


def run_once(world: LeaderboardWorld) -> SchedulingJob:
    job = scheduling_request(domain=world.domain, enqueue=False)
    scheduling_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == SchedulingJob.Status.SUCCEEDED, job.error
    return job


def pairs_of(domain) -> list[tuple[int, int]]:
    return list(
        ComparisonTask.objects.filter(domain=domain, is_gold=False).values_list(
            "response_a_id", "response_b_id"
        )
    )


def test_without_a_budget_the_seed_is_todays_scheduling_and_nothing_adaptive_is_added(settings):
    world, submission = world_with_newcomer()
    created = comparisons_schedule(submission_id=submission.pk, per_prompt=2)
    assert created == 2 * len(world.prompts)
    job = run_once(world)
    assert job.created_comparisons == 0 and job.summary["limited_by"] == "no budget"


def test_the_seed_is_a_spread_and_the_runs_never_pass_the_budget_nor_repeat_a_pair(settings):
    world, submission = world_with_newcomer()
    settings.SEAL_SCHEDULING_SEED_COMPARISONS = 10
    settings.SEAL_SCHEDULING_HORIZON_HOURS = 100_000  # the pool is not the limit here
    done = domain_ratings_committed(domain_id=world.domain.pk)
    world.domain.rating_budget = done + 3 * 25 + 2  # 25 comparisons and change
    world.domain.save()
    pool_join(world)
    seeded = comparisons_schedule(submission_id=submission.pk, per_prompt=2)
    assert seeded == 10
    opponents = Counter(
        task.response_b.model_version_id
        if task.response_a.model_version_id == world.models[-1].pk
        else task.response_a.model_version_id
        for task in ComparisonTask.objects.filter(domain=world.domain, status="open")
    )
    # Spread: every established model meets the newcomer, none more than once over the rest.
    assert set(opponents) == {m.pk for m in world.models[:-1]}
    assert max(opponents.values()) - min(opponents.values()) <= 1

    for _ in range(3):
        job = run_once(world)
        assert domain_ratings_committed(domain_id=world.domain.pk) <= world.domain.rating_budget
    pairs = pairs_of(world.domain)
    assert len(pairs) == len(set(pairs))
    assert ComparisonTask.objects.filter(domain=world.domain, status="open").count() == 25
    assert job.created_comparisons == 0 and job.summary["limited_by"] == "budget"


def test_the_adaptive_run_concentrates_on_the_new_model(settings):
    world, submission = world_with_newcomer()
    settings.SEAL_SCHEDULING_SEED_COMPARISONS = 5
    settings.SEAL_SCHEDULING_HORIZON_HOURS = 100_000
    settings.SEAL_SCHEDULING_MAX_PER_RUN = 40
    world.domain.rating_budget = 10_000
    world.domain.save()
    pool_join(world)
    comparisons_schedule(submission_id=submission.pk, per_prompt=2)
    job = run_once(world)
    assert job.created_comparisons > 0
    new = world.models[-1].pk
    open_tasks = ComparisonTask.objects.filter(domain=world.domain, status="open")
    with_new = sum(
        new in (t.response_a.model_version_id, t.response_b.model_version_id) for t in open_tasks
    )
    # The newcomer's interval is what is unsure: most of the run's picks involve it.
    assert with_new / open_tasks.count() > 0.7
    progress = EvaluationProgress.objects.get(submission=submission, domain=world.domain)
    assert not progress.is_done and progress.ratings_scheduled == 3 * open_tasks.count()


def test_open_work_is_kept_within_what_the_pool_does_in_the_horizon(settings):
    world, submission = world_with_newcomer()
    settings.SEAL_SCHEDULING_SEED_COMPARISONS = 0
    settings.SEAL_SCHEDULING_HORIZON_HOURS = 5
    settings.SEAL_SCHEDULING_NOMINAL_RATINGS_PER_HOUR = 2
    world.domain.rating_budget = 10_000
    world.domain.save()
    comparisons_schedule(submission_id=submission.pk)
    capacity = domain_pool_capacity(domain=world.domain)
    assert capacity.annotators == 0  # the world's raters are not in the domain's pool
    job = run_once(world)
    assert job.created_comparisons == 0 and job.summary["limited_by"] == "pool capacity"
    pool_join(world)
    capacity = domain_pool_capacity(domain=world.domain)
    assert capacity.annotators == 3
    # The world's ratings were submitted half an hour ago: that is the measured throughput.
    assert capacity.measured
    job = run_once(world)
    allowed = capacity.ratings_per_hour * 5 // RATINGS_PER_COMPARISON
    assert 0 < job.created_comparisons <= allowed


def test_a_settled_model_completes_its_submission_once_with_the_reason(settings):
    world, submission = world_with_newcomer(n_models=4, n_prompts=12)
    world.rate()  # everyone against everyone on every prompt: the newcomer is rated too
    world.domain.target_half_width = 1000.0  # any interval is narrow enough
    world.domain.rating_budget = 10_000
    world.domain.save()
    submission.status = Submission.Status.COMPARING
    submission.save()
    settings.SEAL_ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1:9"]
    lab = submission.model_version.lab
    webhook_endpoint_create(lab=lab, url="http://127.0.0.1:9/hook")
    leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    run_once(world)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.COMPLETED
    assert "Interval reached the target width" in submission.status_detail
    (completed,) = WebhookDelivery.objects.filter(event_type="submission.completed")
    assert completed.event_id == f"evt_submission_{submission.pk}_completed"
    assert completed.payload["submission_id"] == submission.pk
    (domain_result,) = completed.payload["domains"]
    assert domain_result["reason"] == "precision" and domain_result["half_width"] is not None
    progress = EvaluationProgress.objects.get(submission=submission)
    assert progress.done_reason == "precision" and progress.half_width is not None
    assert progress.snapshot is not None and progress.ratings_done > 0
    done_at = progress.done_at
    # Later runs change neither the submission nor the final numbers.
    run_once(world)
    progress.refresh_from_db()
    assert progress.done_at == done_at
    assert submission_complete(submission_id=submission.pk) is False
    assert WebhookDelivery.objects.filter(event_type="submission.completed").count() == 1


def test_an_unsettled_model_is_not_completed_and_gets_an_estimate(settings):
    world, submission = world_with_newcomer(n_models=4, n_prompts=12)
    # Equal strengths: the intervals overlap, so the position is not settled either.
    world.strengths = dict.fromkeys(world.strengths, 0.0)
    world.rate(prompts=world.prompts[:3], seed=5)
    world.domain.target_half_width = 1.0
    world.domain.rating_budget = 10_000
    world.domain.save()
    pool_join(world)
    submission.status = Submission.Status.COMPARING
    submission.save()
    leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    run_once(world)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.COMPARING
    progress = EvaluationProgress.objects.get(submission=submission)
    assert not progress.is_done and progress.ratings_needed and progress.ratings_needed > 0
    assert progress.estimated_finish is not None and progress.estimated_finish > timezone.now()


def test_the_budget_spent_ends_the_evaluation(settings):
    world, submission = world_with_newcomer(n_models=4, n_prompts=12)
    world.rate(prompts=world.prompts[:2])
    world.domain.target_half_width = 1.0
    world.domain.rating_budget = domain_ratings_committed(domain_id=world.domain.pk)
    world.domain.save()
    submission.status = Submission.Status.COMPARING
    submission.save()
    run_once(world)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.COMPLETED
    assert "budget is spent" in submission.status_detail


def test_the_sweep_requeues_a_run_whose_worker_died_and_a_lost_claim_writes_nothing(settings):
    world, submission = world_with_newcomer()
    world.domain.rating_budget = 10_000
    world.domain.save()
    pool_join(world)
    submission.status = Submission.Status.COMPARING
    submission.save()
    job = scheduling_request(domain=world.domain, enqueue=False)
    # A worker claimed it and died: running since long ago.
    SchedulingJob.objects.filter(pk=job.pk).update(
        status="running", started_at=timezone.now() - timedelta(hours=2), attempts=1, run_token="x"
    )
    assert scheduling_job_run(job_id=job.pk) is None  # not queued: a duplicate message
    assert ComparisonTask.objects.filter(domain=world.domain, status="open").count() == 0
    assert scheduling_jobs_sweep() == 1
    job.refresh_from_db()
    assert job.status == "queued" and job.run_token == ""
    scheduling_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 2 and job.created_comparisons > 0
    assert scheduling_request(domain=world.domain, enqueue=False).pk != job.pk


def test_the_lab_api_shows_progress_that_means_something_and_only_to_its_lab(settings):
    world, submission = world_with_newcomer(n_models=4, n_prompts=12)
    # Equal strengths: the intervals overlap, so the position is not settled either.
    world.strengths = dict.fromkeys(world.strengths, 0.0)
    world.rate(prompts=world.prompts[:3], seed=5)
    world.domain.target_half_width = 1.0
    world.domain.rating_budget = 10_000
    world.domain.save()
    pool_join(world)
    submission.status = Submission.Status.COMPARING
    submission.save()
    leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    run_once(world)
    progress = EvaluationProgress.objects.get(submission=submission)

    own_lab = submission.model_version.lab
    _, own_key = lab_api_key_create(lab=own_lab, name="ci")
    _, other_key = lab_api_key_create(lab=LabFactory.create(), name="ci")
    url = f"/api/v1/submissions/{submission.pk}/"
    body = api_client(own_key).get(url).json()
    (evaluation,) = body["evaluation"]
    assert evaluation["domain"] == world.domain.slug and evaluation["status"] == "evaluating"
    assert evaluation["ratings_done"] == progress.ratings_done == 3 * 3 * 3
    assert evaluation["ratings_scheduled"] == progress.ratings_scheduled > 0
    assert progress.ratings_needed and progress.lower is not None and progress.upper is not None
    assert evaluation["ratings_needed"] == progress.ratings_needed > 0
    assert evaluation["lower"] < evaluation["elo"] < evaluation["upper"]
    assert evaluation["half_width"] == pytest.approx((progress.upper - progress.lower) / 2)
    assert evaluation["target_half_width"] == 1.0 and evaluation["estimated_finish"]
    listed = api_client(own_key).get("/api/v1/submissions/").json()["results"]
    assert listed[0]["evaluation"] == body["evaluation"]
    # Another lab's key sees neither the submission nor its progress.
    assert api_client(other_key).get(url).status_code == 404
    assert api_client(other_key).get("/api/v1/submissions/").json()["results"] == []


def test_staff_see_budget_used_pool_capacity_and_queue_eta_per_domain(client, settings):
    world, submission = world_with_newcomer(n_models=4, n_prompts=12)
    world.domain.rating_budget = 1000
    world.domain.save()
    pool_join(world)
    comparisons_schedule(submission_id=submission.pk)
    staff = UserFactory.create(is_staff=True, is_superuser=True)
    client.force_login(staff)
    page = client.get("/admin/leaderboards/domainleaderboard/").content.decode()
    used = domain_ratings_committed(domain_id=world.domain.pk)
    assert f"{used} of 1000 ratings" in page
    assert "3 vetted annotators" in page and "ratings/hour (measured)" in page
    assert "ratings open, about" in page
    detail = client.get(f"/admin/leaderboards/domainleaderboard/{world.domain.pk}/change/")
    assert f"{used} of 1000 ratings" in detail.content.decode()
    assert client.get("/admin/leaderboards/schedulingjob/").status_code == 200
    assert client.get("/admin/leaderboards/evaluationprogress/").status_code == 200


def test_planned_comparisons_skip_existing_pairs_and_anything_not_comparable():
    world, _ = world_with_newcomer(n_models=3, n_prompts=4)
    new, old = world.models[-1], world.models[0]
    p0, p1 = world.prompts[0], world.prompts[1]
    r = world.responses
    existing = ComparisonTask.objects.filter(domain=world.domain).first()
    assert existing is not None
    created = comparison_tasks_add(
        domain_id=world.domain.pk,
        pairs=[
            (r[(new.pk, p0.pk)].pk, r[(old.pk, p0.pk)].pk),  # new: created
            (r[(old.pk, p0.pk)].pk, r[(new.pk, p0.pk)].pk),  # the same pair reversed: once
            (existing.response_b_id, existing.response_a_id),  # compared already
            (r[(new.pk, p0.pk)].pk, r[(old.pk, p1.pk)].pk),  # two prompts: refused
            (r[(new.pk, p1.pk)].pk, r[(new.pk, p1.pk)].pk),  # one answer twice: refused
        ],
    )
    assert created == 1
    pairs = pairs_of(world.domain)
    assert len(pairs) == len(set(pairs))
