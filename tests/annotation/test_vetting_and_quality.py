"""Qualification on gold comparisons, gold mixed into vetted queues, and the staff quality view."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.models import AnnotatorProfile, Assignment, ComparisonTask
from annotation.selectors import annotator_quality_table
from annotation.services import (
    RatingInput,
    assignment_next,
    comparison_task_create,
    comparisons_schedule,
    comparisons_schedule_sweep,
    qualification_start,
    rating_submit,
    review_approve,
    review_reject,
)
from annotation.tasks import comparisons_schedule_for_submission
from seal.errors import ApplicationError
from seal.models import Response, Submission
from seal.tasking import TaskSend
from tests.builders import World, good_rating
from tests.factories import ModelVersionFactory, PromptFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db


def add_gold(world: World, count: int) -> list[ComparisonTask]:
    """Gold items on fresh prompts: staff expect the first model's answer to be much better."""
    gold = []
    for i in range(count):
        prompt = PromptFactory.create(
            prompt_set=world.prompts[0].prompt_set, text=f"Gold prompt {i}"
        )
        first = ResponseFactory.create(model_version=world.models[0], prompt=prompt)
        second = ResponseFactory.create(model_version=world.models[1], prompt=prompt)
        gold.append(
            comparison_task_create(response_1=first, response_2=second, gold_expected_preference=2)
        )
    return gold


def rate_gold(profile: AnnotatorProfile, *, agree: bool) -> Assignment:
    assignment = assignment_next(profile=profile)
    assert assignment is not None
    assert assignment.is_gold
    expected = assignment.task.gold_expected_preference
    assert expected is not None
    # The expectation is in model terms (A); turn it into what this annotator saw on screen.
    screen_pref = expected if assignment.left_is_a else -expected
    return rating_submit(
        assignment_id=assignment.pk,
        profile=profile,
        rating=good_rating(screen_pref if agree else -screen_pref),
    )


def test_an_applicant_who_agrees_with_gold_is_vetted(world: World, settings):
    settings.SEAL_QUALIFICATION_SIZE = 4
    settings.SEAL_QUALIFICATION_PASS_RATE = 0.75
    add_gold(world, 4)
    applicant = world.annotator("applicant", status=AnnotatorProfile.Status.APPLICANT)
    qualification_start(profile=applicant)
    for agree in (True, True, False, True):
        done = rate_gold(applicant, agree=agree)
        assert done.gold_correct is agree
    applicant.refresh_from_db()
    assert applicant.status == AnnotatorProfile.Status.VETTED
    assert applicant.qualification_score == 0.75
    assert applicant.vetted_at is not None
    # Gold ratings never reach the review queues or the leaderboard copy.
    assert not Assignment.objects.filter(is_gold=True, status=Assignment.Status.APPROVED).exists()


def test_an_applicant_who_fails_stays_unvetted_with_the_score_kept(world: World, settings):
    settings.SEAL_QUALIFICATION_SIZE = 3
    settings.SEAL_QUALIFICATION_PASS_RATE = 0.8
    add_gold(world, 3)
    applicant = world.annotator("applicant", status=AnnotatorProfile.Status.APPLICANT)
    qualification_start(profile=applicant)
    for agree in (True, False, False):
        rate_gold(applicant, agree=agree)
    applicant.refresh_from_db()
    assert applicant.status == AnnotatorProfile.Status.APPLICANT
    assert applicant.qualification_score == pytest.approx(1 / 3)
    with pytest.raises(ApplicationError, match="Only vetted annotators"):
        assignment_next(profile=applicant)


def test_qualifying_annotators_only_ever_see_gold(world: World, settings):
    settings.SEAL_QUALIFICATION_SIZE = 2
    add_gold(world, 2)
    applicant = world.annotator("applicant", status=AnnotatorProfile.Status.APPLICANT)
    qualification_start(profile=applicant)
    for _ in range(2):
        assert rate_gold(applicant, agree=False).is_gold
    applicant.refresh_from_db()
    assert applicant.status == AnnotatorProfile.Status.APPLICANT


def test_gold_is_mixed_silently_into_vetted_queues_at_the_configured_rate(world: World, settings):
    settings.SEAL_GOLD_RATE = 1.0
    add_gold(world, 2)
    vetted = world.annotator("vetted")
    first = assignment_next(profile=vetted)
    assert first is not None and first.is_gold and first.slot is None
    rating_submit(assignment_id=first.pk, profile=vetted, rating=good_rating())
    second = assignment_next(profile=vetted)
    assert second is not None and second.is_gold
    rating_submit(assignment_id=second.pk, profile=vetted, rating=good_rating())
    # Gold exhausted: real work follows.
    third = assignment_next(profile=vetted)
    assert third is not None and not third.is_gold
    settings.SEAL_GOLD_RATE = 0.0
    # The gold items are tracked and count toward gold accuracy, not toward reviews.
    row = next(r for r in annotator_quality_table() if r.username == "vetted")
    assert row.gold_count == 2


def test_quality_table_measures_agreement_approvals_time_and_volume(world: World, settings):
    settings.SEAL_GOLD_RATE = 0.0
    l1, l2 = world.reviewer("rev1", 1), world.reviewer("rev2", 2)
    agreeing = [world.annotator(f"agree{i}") for i in range(2)]
    contrarian = world.annotator("contrarian")
    for profile in [*agreeing, contrarian]:
        assignment = assignment_next(profile=profile)
        assert assignment is not None and assignment.task_id == world.tasks[0].pk
        model0_left = assignment.left_is_a
        pref = 1 if model0_left else -1
        if profile is contrarian:
            pref = -pref
        rating_submit(assignment_id=assignment.pk, profile=profile, rating=good_rating(pref))
    for assignment in Assignment.objects.filter(annotator__in=agreeing):
        review_approve(assignment_id=assignment.pk, reviewer=l1, layer=1)
        review_approve(assignment_id=assignment.pk, reviewer=l2, layer=2)
    contrarian_rating = Assignment.objects.get(annotator=contrarian)
    review_reject(assignment_id=contrarian_rating.pk, reviewer=l1, layer=1, reason="Backwards")

    rows = {row.username: row for row in annotator_quality_table()}
    # agree0 matches agree1 and not the contrarian: one pair of two.
    assert rows["agree0"].agreement == 0.5
    assert rows["agree0"].layer1_approval == 1.0
    assert rows["agree0"].layer2_approval == 1.0
    assert rows["agree0"].volume == 1
    assert rows["agree0"].median_seconds is not None
    assert rows["contrarian"].agreement == 0.0
    assert rows["contrarian"].layer1_approval == 0.0
    assert rows["contrarian"].layer2_approval is None


def test_staff_see_the_quality_view_and_can_suspend(world: World):
    target = world.annotator("target")
    staff = Client()
    staff.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    url = reverse("admin:annotation_annotatorprofile_quality")
    page = staff.get(url)
    assert page.status_code == 200
    assert "target" in page.content.decode()
    response = staff.post(url, {"profile_id": target.pk, "reason": "Copy-pasted justifications"})
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.status == AnnotatorProfile.Status.SUSPENDED
    assert target.suspended_reason == "Copy-pasted justifications"
    with pytest.raises(ApplicationError):
        assignment_next(profile=target)

    annotator_client = Client()
    annotator_client.force_login(world.annotator("nosy").user)
    assert annotator_client.get(url).status_code == 302  # to the admin login


def staff_client(*codenames: str) -> Client:
    """A logged-in staff account (not a superuser) holding exactly these annotation permissions."""
    user = UserFactory.create(is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="annotation", codename__in=codenames)
    )
    client = Client()
    client.force_login(user)
    return client


def test_the_quality_view_and_its_suspend_need_the_quality_permission(world: World):
    target = world.annotator("target")
    url = reverse("admin:annotation_annotatorprofile_quality")
    changelist = reverse("admin:annotation_annotatorprofile_changelist")
    suspend = {"profile_id": target.pk, "reason": "Copy-pasted justifications"}

    # Staff with no permissions at all, and staff who may view and even change profiles.
    for codenames in ((), ("view_annotatorprofile", "change_annotatorprofile")):
        client = staff_client(*codenames)
        page = client.get(url)
        assert page.status_code == 403
        assert "target" not in page.content.decode()
        assert client.post(url, suspend).status_code == 403
    assert "Quality view" not in client.get(changelist).content.decode()
    target.refresh_from_db()
    assert target.status == AnnotatorProfile.Status.VETTED

    # The quality permission shows the table; suspending from it also needs to change profiles.
    reader = staff_client("view_annotator_quality", "view_annotatorprofile")
    page = reader.get(url)
    assert page.status_code == 200
    assert "target" in page.content.decode()
    assert 'value="Suspend"' not in page.content.decode()
    assert "Quality view" in reader.get(changelist).content.decode()
    assert reader.post(url, suspend).status_code == 403
    target.refresh_from_db()
    assert target.status == AnnotatorProfile.Status.VETTED

    manager = staff_client("view_annotator_quality", "change_annotatorprofile")
    assert 'value="Suspend"' in manager.get(url).content.decode()
    assert manager.post(url, suspend).status_code == 302
    target.refresh_from_db()
    assert target.status == AnnotatorProfile.Status.SUSPENDED

    # Not staff, or not logged in: the admin's login page, never the table.
    not_staff = Client()
    not_staff.force_login(world.annotator("nosy").user)
    for client in (Client(), not_staff):
        response = client.get(url)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_changelist_actions_need_permission_to_change_profiles(world: World):
    target = world.annotator("target")
    changelist = reverse("admin:annotation_annotatorprofile_changelist")
    viewer = staff_client("view_annotatorprofile", "view_annotator_quality")
    page = viewer.get(changelist).content.decode()
    assert 'value="suspend"' not in page
    response = viewer.post(
        changelist, {"action": "suspend", "_selected_action": [target.pk], "index": 0}
    )
    assert response.status_code in (200, 302)
    target.refresh_from_db()
    assert target.status == AnnotatorProfile.Status.VETTED

    editor = staff_client("view_annotatorprofile", "change_annotatorprofile")
    assert 'value="suspend"' in editor.get(changelist).content.decode()
    editor.post(changelist, {"action": "suspend", "_selected_action": [target.pk], "index": 0})
    target.refresh_from_db()
    assert target.status == AnnotatorProfile.Status.SUSPENDED


def test_suspending_returns_live_leases_to_the_pool(world: World, settings):
    settings.SEAL_GOLD_RATE = 0.0
    from annotation.services import annotator_suspend

    profile = world.annotator("leaver")
    assignment = assignment_next(profile=profile)
    assert assignment is not None
    annotator_suspend(profile=profile, reason="Left the programme")
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.EXPIRED
    assignment.task.refresh_from_db()
    assert assignment.task.active_slots == 0


def test_scheduling_pairs_a_new_model_with_established_ones_idempotently(world: World):
    newcomer = ModelVersionFactory.create(name="Newcomer")
    for prompt in world.prompts:
        ResponseFactory.create(model_version=newcomer, prompt=prompt)
    ResponseFactory.create(
        model_version=newcomer,
        prompt=world.prompts[0].prompt_set.prompts.create(
            text="unanswered by others", content_hash="x" * 64
        ),
        status=Response.Status.FAILED,
        text="",
    )
    submission = Submission.objects.create(
        model_version=newcomer, status=Submission.Status.COLLECTED
    )
    submission.domains.add(world.domain)
    world.prompts[0].prompt_set.status = "active"
    world.prompts[0].prompt_set.save()

    created = comparisons_schedule_for_submission.delay(submission.pk).get()
    assert created == 2 * len(world.prompts)
    assert comparisons_schedule(submission_id=submission.pk) == 0
    tasks = ComparisonTask.objects.exclude(pk__in=[t.pk for t in world.tasks])
    for task in tasks:
        models = {task.response_a.model_version_id, task.response_b.model_version_id}
        assert newcomer.pk in models
        assert len(models) == 2
    submission.refresh_from_db()
    assert submission.status == Submission.Status.COMPARING


def test_a_rating_of_an_unknown_scale_value_is_refused(world: World, settings):
    settings.SEAL_GOLD_RATE = 0.0
    profile = world.annotator("ann")
    assignment = assignment_next(profile=profile)
    assert assignment is not None
    with pytest.raises(ApplicationError) as excinfo:
        rating_submit(
            assignment_id=assignment.pk,
            profile=profile,
            rating=RatingInput(
                preference=7,
                scores_left={"correctness": 0, "overall": 3},
                scores_right={"correctness": 3, "overall": 3},
                justification="long enough justification",
            ),
        )
    assert excinfo.value.field_errors["preference"] == [
        "Must be one of the five preference options"
    ]
    assert excinfo.value.field_errors["score_left_correctness"] == ["Must be between 1 and 5"]


def test_the_sweep_schedules_a_collected_submission_whose_message_was_lost(
    world: World, settings, django_capture_on_commit_callbacks
):
    settings.SEAL_COMPARISONS_SCHEDULE_STALE_SECONDS = 120
    newcomer = ModelVersionFactory.create(name="Newcomer")
    for prompt in world.prompts:
        ResponseFactory.create(model_version=newcomer, prompt=prompt)
    world.prompts[0].prompt_set.status = "active"
    world.prompts[0].prompt_set.save()
    finished = timezone.now()
    submission = Submission.objects.create(
        model_version=newcomer,
        status=Submission.Status.COLLECTED,
        collection_finished_at=finished,
    )
    submission.domains.add(world.domain)
    before = ComparisonTask.objects.count()

    # The collector's message never arrived. Too early to call it lost:
    assert comparisons_schedule_sweep(now=finished + timedelta(seconds=60)) == []
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        swept = comparisons_schedule_sweep(now=finished + timedelta(seconds=121))
    assert swept == [submission.pk]
    assert [type(callback) for callback in callbacks] == [TaskSend]
    submission.refresh_from_db()
    assert submission.status == Submission.Status.COMPARING
    assert submission.comparisons_scheduled_at is not None
    assert ComparisonTask.objects.count() == before + 2 * len(world.prompts)

    # Scheduled now: the sweep leaves it alone, and a late duplicate message adds nothing.
    assert comparisons_schedule_sweep(now=finished + timedelta(hours=1)) == []
    assert comparisons_schedule_for_submission.delay(submission.pk).get() == 0
    assert ComparisonTask.objects.count() == before + 2 * len(world.prompts)


def test_a_collected_submission_with_nothing_to_pair_is_not_swept_again(world: World, settings):
    settings.SEAL_COMPARISONS_SCHEDULE_STALE_SECONDS = 0
    loner = ModelVersionFactory.create(name="Loner")
    submission = Submission.objects.create(
        model_version=loner,
        status=Submission.Status.COLLECTED,
        collection_finished_at=timezone.now() - timedelta(minutes=5),
    )
    submission.domains.add(world.domain)
    assert comparisons_schedule_sweep() == [submission.pk]
    assert comparisons_schedule(submission_id=submission.pk) == 0
    submission.refresh_from_db()
    assert submission.status == Submission.Status.COLLECTED  # nothing to compare with yet
    assert comparisons_schedule_sweep() == []


def test_scheduling_again_tops_up_to_the_quota_without_adding_pairs_beyond_it(world: World):
    world.prompts[0].prompt_set.status = "active"
    world.prompts[0].prompt_set.save()
    newcomer = ModelVersionFactory.create(name="Newcomer")
    first, *rest = world.prompts
    ResponseFactory.create(model_version=newcomer, prompt=first)
    failed = [
        ResponseFactory.create(model_version=newcomer, prompt=p, status="failed", text="")
        for p in rest
    ]
    submission = Submission.objects.create(
        model_version=newcomer, status=Submission.Status.COLLECTED
    )
    submission.domains.add(world.domain)
    assert comparisons_schedule(submission_id=submission.pk) == 2

    # The failed answers are retried and collected; meanwhile another model arrived.
    Response.objects.filter(pk__in=[r.pk for r in failed]).update(status="ok", text="Retried")
    latecomer = ModelVersionFactory.create(name="Latecomer")
    for prompt in world.prompts:
        ResponseFactory.create(model_version=latecomer, prompt=prompt)
    Submission.objects.filter(pk=submission.pk).update(
        status=Submission.Status.COLLECTED, comparisons_scheduled_at=None
    )
    # Only the newly answered prompts are paired; the first answer already has its two.
    assert comparisons_schedule(submission_id=submission.pk) == 2 * len(rest)
    for response in Response.objects.filter(model_version=newcomer):
        paired = ComparisonTask.objects.filter(
            Q(response_a=response) | Q(response_b=response), is_gold=False
        ).count()
        assert paired == 2, response.prompt_id
