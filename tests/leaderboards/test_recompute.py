"""Recompute and publish: boards per domain and category, fingerprints, pointer, debounce."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leaderboards import services
from leaderboards.models import (
    PublishedLeaderboard,
    RecomputeJob,
    Snapshot,
    SnapshotBoard,
    SnapshotChart,
    SnapshotEntry,
)
from leaderboards.recompute_inputs import (
    approved_counts,
    approved_counts_by_category,
    recompute_inputs_load,
)
from leaderboards.services import (
    leaderboards_publish_now,
    recompute_job_run,
    recompute_jobs_sweep,
    recompute_request,
    snapshot_hide,
    snapshot_unhide,
)
from seal.errors import ApplicationError
from tests.builders import LeaderboardWorld, leaderboard_world, messages_sent

pytestmark = pytest.mark.django_db


def publish(world: LeaderboardWorld, **kwargs) -> Snapshot:
    snapshots = leaderboards_publish_now(domains=[world.domain], **kwargs)
    assert len(snapshots) == 1
    return snapshots[0]


def test_a_recompute_publishes_an_overall_and_a_board_per_category(lb_world):
    snapshot = publish(lb_world)

    boards = {board.key: board for board in snapshot.boards.all()}
    assert set(boards) == {"overall", "python", "sql"}
    assert all(board.status == SnapshotBoard.Status.RANKED for board in boards.values())
    overall = boards["overall"]
    assert overall.n_ratings == snapshot.n_ratings == 12 * 3 * 3
    assert sum(b.n_ratings for b in boards.values() if b.key != "overall") == overall.n_ratings
    entries = list(overall.entries.order_by("position"))
    # The demo strengths decrease with the model index: the best model comes first.
    assert [e.model_version_id for e in entries] == [m.pk for m in lb_world.models]
    for entry in entries:
        assert entry.lower is not None and entry.elo is not None and entry.upper is not None
        assert entry.lower < entry.elo < entry.upper
        assert entry.rank is not None and entry.rank_with_uncertainty is not None
        assert entry.rank >= 1 and entry.rank_with_uncertainty <= entry.rank
        assert entry.wins + entry.ties + entry.losses == entry.n_ratings
    assert overall.data["win_rates"]["models"] == [m.pk for m in lb_world.models]
    assert len(overall.data["win_rates"]["empirical"]) == 3
    assert overall.separability is not None and 0 <= overall.separability <= 1
    assert snapshot.agreement is not None and snapshot.agreement["level"] == "ordinal"
    assert snapshot.config["ranking"]["replicas"] == 60
    assert snapshot.config["seed_source"] == "fingerprint"
    assert len(snapshot.input_fingerprint) == 64
    assert PublishedLeaderboard.objects.get(domain=lb_world.domain).snapshot == snapshot
    job = RecomputeJob.objects.get(domain=lb_world.domain)
    assert job.status == RecomputeJob.Status.SUCCEEDED and job.snapshot == snapshot
    # Charts were drawn with the snapshot, two per ranked board.
    assert SnapshotChart.objects.filter(board__snapshot=snapshot).count() == 6


def test_the_ratings_are_read_in_one_query_and_grouped_as_the_database_would(lb_world):
    with CaptureQueriesContext(connection) as queries:
        inputs = recompute_inputs_load(domain=lb_world.domain)
    reads = [q["sql"] for q in queries if "annotation_approvedrating" in q["sql"]]
    # The ratings one by one (the ratings file is written from them); besides, only aggregates:
    # the latest approval and the domain's count the kept score totals are checked against.
    one_by_one = [
        sql for sql in reads if not any(word in sql for word in ("GROUP BY", "MAX(", "COUNT("))
    ]
    assert len(one_by_one) == 1
    # What experts found: one grouped query sums scores and tags per (prompt, model).
    assert any("GROUP BY prompt_id, model_id" in sql for sql in reads)
    assert inputs.answers is not None and len(inputs.answers.prompt) == 12 * 3
    # Three ratings of each (prompt, pair) collapse into one row.
    assert len(inputs.overall.prompt) == 12 * 3
    assert inputs.overall.n_ratings == 108
    # Exactly the rows the database's own GROUP BY gives, overall and per category.
    database = approved_counts(domain_id=lb_world.domain.pk).sorted()
    for name in database.FIELDS:
        assert getattr(inputs.overall, name).tolist() == getattr(database, name).tolist()
    rows, category_ids = approved_counts_by_category(domain_id=lb_world.domain.pk)
    for category_id, grouped in inputs.by_category.items():
        expected = rows.take(np.flatnonzero(category_ids == category_id)).sorted()
        for name in expected.FIELDS:
            assert getattr(grouped, name).tolist() == getattr(expected, name).tolist()
    assert set(inputs.by_category) == set(np.unique(category_ids).tolist())


def test_the_same_input_never_produces_two_snapshots(lb_world):
    first = publish(lb_world)
    assert leaderboards_publish_now(domains=[lb_world.domain]) == [first]
    assert Snapshot.objects.filter(domain=lb_world.domain).count() == 1
    assert RecomputeJob.objects.filter(snapshot=first).count() == 2
    with pytest.raises(IntegrityError), transaction.atomic():
        Snapshot.objects.create(
            domain=lb_world.domain, input_fingerprint=first.input_fingerprint, config={}
        )


def test_new_ratings_publish_a_new_snapshot_and_move_the_pointer(db):
    world = leaderboard_world()
    world.rate(prompts=world.prompts[:8])
    first = publish(world)
    world.rate(prompts=world.prompts[8:], seed=1)
    second = publish(world)
    assert second.pk != first.pk and second.input_fingerprint != first.input_fingerprint
    assert second.n_ratings > first.n_ratings
    assert PublishedLeaderboard.objects.get(domain=world.domain).snapshot == second
    # The per-model history lists both snapshots.
    assert (
        SnapshotEntry.objects.filter(model_version=world.models[0], board_key="overall").count()
        == 2
    )


def test_a_category_below_the_minimum_is_shown_but_not_ranked(db, settings):
    world = leaderboard_world(categories={"language": ["Python", "SQL", "Go"]})
    go = world.prompts_in("go")
    world.rate(prompts=[p for p in world.prompts if p not in go])
    world.rate(prompts=go[:1], seed=3)  # 9 ratings, below the minimum of 10
    snapshot = publish(world)
    boards = {board.key: board for board in snapshot.boards.all()}
    assert boards["go"].status == SnapshotBoard.Status.INSUFFICIENT
    assert "9 approved ratings" in boards["go"].status_detail
    assert all(entry.rank is None for entry in boards["go"].entries.all())
    assert boards["go"].entries.count() == 3
    assert not SnapshotChart.objects.filter(board=boards["go"]).exists()
    assert boards["python"].status == SnapshotBoard.Status.RANKED


def test_a_model_below_the_per_model_minimum_is_listed_unranked(db, settings):
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL = 20
    world = leaderboard_world(n_models=3)
    a, b, c = world.models
    world.rate(pairs=[(a, b)])
    world.rate(prompts=world.prompts[:2], pairs=[(a, c)], seed=2)
    snapshot = publish(world)
    overall = snapshot.boards.get(key="overall")
    lines = {e.model_version_id: e for e in overall.entries.all()}
    assert lines[c.pk].rank is None and lines[c.pk].few_ratings
    assert lines[a.pk].rank is not None and lines[b.pk].rank is not None


def test_hiding_a_snapshot_moves_the_pointer_back_and_showing_it_restores_it(db):
    world = leaderboard_world()
    world.rate(prompts=world.prompts[:8])
    first = publish(world)
    world.rate(prompts=world.prompts[8:], seed=1)
    second = publish(world)

    snapshot_hide(snapshot=second)
    assert PublishedLeaderboard.objects.get(domain=world.domain).snapshot == first
    # The same input again does not bring the hidden snapshot back.
    leaderboards_publish_now(domains=[world.domain])
    assert PublishedLeaderboard.objects.get(domain=world.domain).snapshot == first
    assert Snapshot.objects.filter(domain=world.domain).count() == 2
    with pytest.raises(ApplicationError):
        snapshot_hide(snapshot=second)

    snapshot_hide(snapshot=first)
    assert not PublishedLeaderboard.objects.filter(domain=world.domain).exists()

    snapshot_unhide(snapshot=first)
    assert PublishedLeaderboard.objects.get(domain=world.domain).snapshot == first
    snapshot_unhide(snapshot=second)
    assert PublishedLeaderboard.objects.get(domain=world.domain).snapshot == second


def test_requests_are_debounced_to_one_job_per_domain(lb_world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = recompute_request(domain=lb_world.domain)
        second = recompute_request(domain=lb_world.domain)
    assert first == second
    assert RecomputeJob.objects.filter(domain=lb_world.domain).count() == 1
    assert messages_sent(callbacks) == 1  # one message sent, for the one job

    # The database holds the rule too: no second queued-or-running job for the domain.
    with pytest.raises(IntegrityError), transaction.atomic():
        RecomputeJob.objects.create(domain=lb_world.domain)


def test_a_request_while_running_flags_a_rerun_that_runs_after(
    lb_world, django_capture_on_commit_callbacks
):
    job = recompute_request(domain=lb_world.domain, enqueue=False)
    real_compute = services.snapshot_draft_compute

    def compute_while_a_rating_arrives(inputs, **kwargs):
        again = recompute_request(domain=lb_world.domain)
        assert again.pk == job.pk and again.rerun_requested
        return real_compute(inputs, **kwargs)

    services.snapshot_draft_compute = compute_while_a_rating_arrives
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            snapshot = recompute_job_run(job_id=job.pk)
    finally:
        services.snapshot_draft_compute = real_compute
    assert snapshot is not None
    rerun = RecomputeJob.objects.get(domain=lb_world.domain, status=RecomputeJob.Status.QUEUED)
    assert rerun.trigger == RecomputeJob.Trigger.RERUN
    assert messages_sent(callbacks) == 1
    # The rerun reads the same ratings: it publishes nothing new.
    assert recompute_job_run(job_id=rerun.pk) == snapshot
    assert Snapshot.objects.count() == 1


def test_a_duplicate_message_for_a_finished_job_does_nothing(lb_world):
    snapshot = publish(lb_world)
    job = RecomputeJob.objects.get(snapshot=snapshot)
    assert recompute_job_run(job_id=job.pk) is None
    assert recompute_job_run(job_id=999_999) is None
    assert Snapshot.objects.count() == 1


def test_a_failed_run_is_recorded_and_the_previous_snapshot_stays_public(db, monkeypatch):
    world = leaderboard_world()
    world.rate(prompts=world.prompts[:8])
    first = publish(world)
    world.rate(prompts=world.prompts[8:], seed=1)

    def broken(*args, **kwargs):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(services, "snapshot_draft_compute", broken)
    assert leaderboards_publish_now(domains=[world.domain]) == []
    failed = RecomputeJob.objects.get(status=RecomputeJob.Status.FAILED)
    assert "engine exploded" in failed.error
    assert PublishedLeaderboard.objects.get(domain=world.domain).snapshot == first


def test_a_transient_database_error_puts_the_job_back_in_the_queue(lb_world, monkeypatch):
    from django.db import OperationalError

    job = recompute_request(domain=lb_world.domain, enqueue=False)

    def flaky(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "snapshot_draft_compute", flaky)
    with pytest.raises(OperationalError):
        recompute_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == RecomputeJob.Status.QUEUED and job.attempts == 1


def test_a_run_that_lost_its_claim_does_not_publish(lb_world, monkeypatch):
    job = recompute_request(domain=lb_world.domain, enqueue=False)
    real_compute = services.snapshot_draft_compute

    def compute_then_lose_the_claim(inputs, **kwargs):
        RecomputeJob.objects.filter(pk=job.pk).update(run_token="someone-else")
        return real_compute(inputs, **kwargs)

    monkeypatch.setattr(services, "snapshot_draft_compute", compute_then_lose_the_claim)
    assert recompute_job_run(job_id=job.pk) is None
    assert not Snapshot.objects.exists()


def test_the_sweep_requeues_lost_jobs_and_gives_up_on_poison(
    lb_world, settings, django_capture_on_commit_callbacks
):
    settings.SEAL_LEADERBOARD_JOB_TIMEOUT_SECONDS = 600
    settings.SEAL_LEADERBOARD_QUEUED_STALE_SECONDS = 120
    settings.SEAL_LEADERBOARD_JOB_MAX_ATTEMPTS = 2
    now = timezone.now()
    job = RecomputeJob.objects.create(
        domain=lb_world.domain,
        status=RecomputeJob.Status.RUNNING,
        started_at=now - timedelta(minutes=5),
        attempts=1,
        run_token="dead-worker",
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert recompute_jobs_sweep(now=now) == 0  # still within its time limit
        assert recompute_jobs_sweep(now=now + timedelta(minutes=6)) == 1
    job.refresh_from_db()
    assert job.status == RecomputeJob.Status.QUEUED and job.run_token == ""
    assert messages_sent(callbacks) == 1

    # Queued without progress: the message is sent again.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert recompute_jobs_sweep(now=now + timedelta(minutes=7)) == 0
        assert recompute_jobs_sweep(now=now + timedelta(minutes=9)) == 1
    assert messages_sent(callbacks) == 1

    # A job that kills its worker every time is given up after the maximum attempts.
    RecomputeJob.objects.filter(pk=job.pk).update(
        status=RecomputeJob.Status.RUNNING, started_at=now, attempts=2
    )
    recompute_jobs_sweep(now=now + timedelta(hours=1))
    job.refresh_from_db()
    assert job.status == RecomputeJob.Status.FAILED and "lost 2 times" in job.error

    # The rerun after the sweep publishes exactly one snapshot.
    RecomputeJob.objects.filter(pk=job.pk).update(
        status=RecomputeJob.Status.RUNNING, started_at=now, attempts=1
    )
    recompute_jobs_sweep(now=now + timedelta(hours=1))
    assert recompute_job_run(job_id=job.pk) is not None
    assert Snapshot.objects.count() == 1


def test_the_sweep_requests_the_recompute_an_approval_asked_for_when_the_request_was_lost(
    db, django_capture_on_commit_callbacks
):
    world = leaderboard_world()
    # Approvals whose request messages never reached a worker (a broker restart lost them).
    world.rate(prompts=world.prompts[:8])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert recompute_jobs_sweep() == 1
    (job,) = RecomputeJob.objects.filter(domain=world.domain)
    assert job.trigger == RecomputeJob.Trigger.SWEEP and job.status == RecomputeJob.Status.QUEUED
    assert messages_sent(callbacks) == 1
    # Requested: the sweep does not ask twice, while the job waits or after it ran.
    assert recompute_jobs_sweep() == 0
    assert recompute_job_run(job_id=job.pk) is not None
    assert recompute_jobs_sweep() == 0
    # Newer approvals whose request was lost too are found again.
    world.rate(prompts=world.prompts[8:], seed=1)
    assert recompute_jobs_sweep() == 1
    assert RecomputeJob.objects.filter(domain=world.domain).count() == 2


def test_published_snapshots_are_immutable(lb_world):
    snapshot = publish(lb_world)
    board = snapshot.boards.get(key="overall")
    entry = board.entries.get(position=0)
    for statement in (
        lambda: Snapshot.objects.filter(pk=snapshot.pk).update(n_ratings=1),
        lambda: Snapshot.objects.filter(pk=snapshot.pk).update(config={"forged": True}),
        lambda: SnapshotBoard.objects.filter(pk=board.pk).update(title="Forged"),
        lambda: SnapshotEntry.objects.filter(pk=entry.pk).update(elo=9999.0),
        lambda: SnapshotChart.objects.filter(board=board).update(svg="<svg/>"),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            statement()
    # Visibility is the one thing staff may change.
    snapshot_hide(snapshot=snapshot)
    assert Snapshot.objects.get(pk=snapshot.pk).is_hidden


def test_two_groups_never_compared_rank_the_larger_and_list_the_other_with_the_reason(db):
    world = leaderboard_world(n_models=5)
    a, b, c, d, e = world.models
    world.rate(pairs=[(a, b), (a, c), (b, c)])
    world.rate(pairs=[(d, e)], seed=1)
    snapshot = publish(world)
    overall = snapshot.boards.get(key="overall")
    assert overall.status == SnapshotBoard.Status.RANKED
    lines = {entry.model_version_id: entry for entry in overall.entries.all()}
    assert all(lines[m.pk].rank is not None for m in (a, b, c))
    for model in (d, e):
        assert lines[model.pk].rank is None and lines[model.pk].elo is None
        assert lines[model.pk].not_ranked_reason == "not connected to the main group"
    assert lines[a.pk].not_ranked_reason is None


def test_a_weak_model_joining_leaves_the_established_models_elo_where_it_was(db):
    world = leaderboard_world(n_models=4)
    a, b, c, weak = world.models
    world.rate(pairs=[(a, b), (a, c), (b, c)])
    first = publish(world)
    world.rate(pairs=[(a, weak), (b, weak), (c, weak)], seed=2)
    second = publish(world)

    def elo(snapshot, key):
        return {
            e.model_version_id: e.elo
            for e in SnapshotEntry.objects.filter(snapshot=snapshot, board_key=key)
        }

    established = [a.pk, b.pk, c.pk]
    for key in ("overall", "python", "sql"):
        before, after = elo(first, key), elo(second, key)
        assert after[weak.pk] is not None and after[weak.pk] < min(after[m] for m in established)
        mean_before = sum(before[m] for m in established) / 3
        # Centred at 1000 over all four, the established models would all move up by
        # (1000 - weak) / 3: about 50 points here. Anchored, their mean stays put.
        assert sum(after[m] for m in established) / 3 == pytest.approx(mean_before, abs=1e-6)
        assert (1000 - after[weak.pk]) / 3 > 25
        anchor = second.boards.get(key=key).data["anchor"]
        assert anchor["snapshot"] == first.pk
        assert sorted(anchor["models"]) == sorted(established)
        assert anchor["reference_mean"] == pytest.approx(mean_before)
    assert first.boards.get(key="overall").data["anchor"] == {
        "shift": 0.0,
        "models": [],
        "reference_mean": None,
        "snapshot": None,
    }
