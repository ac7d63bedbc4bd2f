"""Leaderboards as deployed: final approvals reach a real Celery worker through Redis, which
recomputes on PostgreSQL and publishes; a worker killed mid-recompute changes nothing public, and
the sweep's rerun on a new worker publishes exactly once."""

from __future__ import annotations

import time

import pytest

from annotation.services import assignment_next, rating_submit, review_approve
from leaderboards.models import PublishedLeaderboard, RecomputeJob, Snapshot
from leaderboards.services import leaderboards_publish_now, recompute_request
from leaderboards.tasks import recompute_jobs_sweep_task
from seal import task_names
from tests.builders import build_world, good_rating, leaderboard_world
from tests.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ACTIVE = RecomputeJob.ACTIVE_STATUSES


@pytest.fixture
def worker_env(monkeypatch) -> None:
    """Settings the worker process reads from its environment when the fixture starts it."""
    monkeypatch.setenv("SEAL_LEADERBOARD_REPLICAS", "100")
    monkeypatch.setenv("SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD", "1")
    monkeypatch.setenv("SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL", "1")


def idle(domain_id: int) -> bool:
    return not RecomputeJob.objects.filter(domain_id=domain_id, status__in=ACTIVE).exists()


def test_final_approvals_publish_a_snapshot_through_the_worker(
    worker_env, celery_worker_process, settings
):
    settings.SEAL_GOLD_RATE = 0.0
    world = build_world(task_count=2)
    raters = [world.annotator(f"rater{i}") for i in range(3)]
    l1, l2 = world.reviewer("layer1", 1), world.reviewer("layer2", 2)
    approved = 0
    for _ in world.tasks:
        for rater in raters:
            assignment = assignment_next(profile=rater)
            assert assignment is not None
            # Alternate the winner in model terms (the screen order is random), so that each
            # model has a win and a loss and the board is ranked and gets its charts.
            a_wins = approved % 2 == 0
            preference = 1 if assignment.left_is_a == a_wins else -1
            rating_submit(
                assignment_id=assignment.pk, profile=rater, rating=good_rating(preference)
            )
            review_approve(assignment_id=assignment.pk, reviewer=l1, layer=1)
            review_approve(assignment_id=assignment.pk, reviewer=l2, layer=2)
            approved += 1

    def published_everything() -> Snapshot | None:
        pointer = PublishedLeaderboard.objects.filter(domain=world.domain).first()
        if pointer is None or not idle(world.domain.pk):
            return None
        snapshot = pointer.snapshot
        return snapshot if snapshot.n_ratings == approved else None

    snapshot = wait_for(published_everything, timeout=90)
    assert task_names.RECOMPUTE_JOB_RUN in celery_worker_process.log()
    overall = snapshot.boards.get(key="overall")
    assert overall.entries.count() == 2
    # Six approvals, but the debounce ran far fewer jobs, and no input was published twice.
    assert RecomputeJob.objects.filter(domain=world.domain).count() < approved
    fingerprints = list(Snapshot.objects.values_list("input_fingerprint", flat=True))
    assert len(fingerprints) == len(set(fingerprints))
    # The worker draws the charts right after publishing (outside the publishing transaction).
    wait_for(lambda: overall.charts.count() == 2, timeout=60)


def test_a_worker_killed_mid_recompute_leaves_the_old_snapshot_and_a_rerun_publishes_once(
    worker_env, celery_worker_process, settings
):
    world = leaderboard_world()
    world.rate(prompts=world.prompts[:8])
    (first,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    world.rate(prompts=world.prompts[8:], seed=1)

    # A worker whose recompute takes minutes: far more bootstrap replicas than usual.
    celery_worker_process.stop()
    celery_worker_process.start(extra_env={"SEAL_LEADERBOARD_REPLICAS": "3000000"})
    job = recompute_request(domain=world.domain)
    assert job is not None
    wait_for(
        lambda: RecomputeJob.objects.get(pk=job.pk).status == RecomputeJob.Status.RUNNING,
        timeout=60,
    )
    time.sleep(1.0)
    celery_worker_process.kill()

    job.refresh_from_db()
    assert job.status == RecomputeJob.Status.RUNNING and job.attempts == 1
    assert PublishedLeaderboard.objects.get(domain=world.domain).snapshot == first
    assert Snapshot.objects.count() == 1

    # A new worker; the sweep finds the job its predecessor left running and queues it again.
    celery_worker_process.start(extra_env={"SEAL_LEADERBOARD_JOB_TIMEOUT_SECONDS": "1"})
    time.sleep(1.5)
    recompute_jobs_sweep_task.delay()

    def republished() -> Snapshot | None:
        pointer = PublishedLeaderboard.objects.get(domain=world.domain)
        return pointer.snapshot if pointer.snapshot_id != first.pk else None

    second = wait_for(republished, timeout=90)
    job.refresh_from_db()
    assert job.status == RecomputeJob.Status.SUCCEEDED and job.attempts == 2
    assert job.snapshot == second
    assert second.n_ratings == 12 * 3 * 3 and second.config["ranking"]["replicas"] == 100
    # Nothing else arrives later: exactly one new snapshot.
    recompute_jobs_sweep_task.delay()
    time.sleep(2.0)
    assert Snapshot.objects.filter(domain=world.domain).count() == 2
    assert idle(world.domain.pk)
