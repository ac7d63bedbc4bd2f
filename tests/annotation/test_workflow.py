"""The rating path through the services: hand-out, lease, submit, two review layers, counting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import AnnotatorProfile, ApprovedRating, Assignment, ComparisonTask
from annotation.selectors import eligible_tasks, review_queue
from annotation.services import (
    RatingInput,
    assignment_draft_save,
    assignment_next,
    assignment_skip,
    assignments_expire,
    comparison_task_create,
    rating_submit,
    review_approve,
    review_reject,
)
from seal.errors import ApplicationError
from tests.builders import World, build_world, good_rating
from tests.factories import LabFactory, ResponseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_gold(settings):
    settings.SEAL_GOLD_RATE = 0.0


def lease(profile: AnnotatorProfile) -> Assignment:
    assignment = assignment_next(profile=profile)
    assert assignment is not None, f"{profile} got no comparison"
    return assignment


def rate_and_approve(world: World, annotator: AnnotatorProfile, l1, l2, preference: int = 1):
    assignment = lease(annotator)
    rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating(preference))
    review_approve(assignment_id=assignment.pk, reviewer=l1, layer=1)
    return review_approve(assignment_id=assignment.pk, reviewer=l2, layer=2)


def test_full_path_submit_layer1_layer2_counts(world: World):
    l1, l2 = world.reviewer("rev1", 1), world.reviewer("rev2", 2)
    annotators = [world.annotator(f"ann{i}") for i in range(3)]
    task = world.tasks[0]
    for annotator in annotators:
        assignment = lease(annotator)
        assert assignment.task_id == task.pk, "tasks with ratings are finished first"
        submitted = rating_submit(
            assignment_id=assignment.pk, profile=annotator, rating=good_rating(2)
        )
        assert submitted.status == Assignment.Status.SUBMITTED
        assert not ApprovedRating.objects.filter(assignment=submitted).exists()
        review_approve(assignment_id=assignment.pk, reviewer=l1, layer=1)
        assert not ApprovedRating.objects.filter(assignment=submitted).exists()
        final = review_approve(assignment_id=assignment.pk, reviewer=l2, layer=2)
        assert final.status == Assignment.Status.APPROVED
        assert final.approved_at is not None

    task.refresh_from_db()
    assert task.status == ComparisonTask.Status.COMPLETE
    assert task.approved_count == 3
    counted = ApprovedRating.objects.filter(task=task)
    assert counted.count() == 3
    # "left much better" becomes A or B in model terms depending on the recorded screen order.
    for row in counted.select_related("assignment"):
        expected = 2 if row.assignment.left_is_a else -2
        assert row.preference == expected
        assert row.outcome == (1.0 if expected > 0 else 0.0)
        assert {row.model_a_id, row.model_b_id} == {m.pk for m in world.models}


def test_screen_order_is_randomised_and_recorded(db):
    world = build_world(task_count=40)
    annotator = world.annotator("ann")
    orders = set()
    for _ in range(40):
        assignment = lease(annotator)
        orders.add(assignment.left_is_a)
        assignment_skip(assignment_id=assignment.pk, profile=annotator)
    assert orders == {True, False}


def test_scores_and_tags_are_stored_in_model_terms(world: World):
    annotator = world.annotator("ann")
    assignment = lease(annotator)
    rating = RatingInput(
        preference=-1,
        scores_left={"correctness": 5, "overall": 5},
        scores_right={"correctness": 1, "overall": 1},
        tags_right=["correctness"],
        justification="The right-hand answer is wrong on every input.",
    )
    stored = rating_submit(assignment_id=assignment.pk, profile=annotator, rating=rating)
    left, right = ("a", "b") if stored.left_is_a else ("b", "a")
    assert stored.scores[left] == {"correctness": 5, "overall": 5}
    assert stored.scores[right] == {"correctness": 1, "overall": 1}
    assert stored.issue_tags[right] == ["correctness"]
    assert stored.preference == (-1 if stored.left_is_a else 1)


def test_an_annotator_keeps_their_live_lease_and_never_gets_a_task_twice(world: World):
    annotator = world.annotator("ann")
    first = lease(annotator)
    assert lease(annotator).pk == first.pk
    rating_submit(assignment_id=first.pk, profile=annotator, rating=good_rating())
    seen = {first.task_id}
    while (assignment := assignment_next(profile=annotator)) is not None:
        assert assignment.task_id not in seen
        seen.add(assignment.task_id)
        assignment_skip(assignment_id=assignment.pk, profile=annotator)
    assert seen == {t.pk for t in world.tasks}


def test_never_more_than_three_live_assignments_per_task(world: World):
    task = world.tasks[0]
    people = [world.annotator(f"ann{i}") for i in range(5)]
    got = [lease(p) for p in people]
    on_first = [a for a in got if a.task_id == task.pk]
    assert len(on_first) == 3
    assert sorted(a.slot or 0 for a in on_first) == [1, 2, 3]
    task.refresh_from_db()
    assert task.active_slots == 3


def test_lease_expiry_returns_the_slot_and_refuses_a_late_submission(world: World, settings):
    settings.SEAL_ASSIGNMENT_LEASE_MINUTES = 30
    task = world.tasks[0]
    slow = world.annotator("slow")
    assignment = lease(slow)
    later = timezone.now() + timedelta(minutes=31)
    with pytest.raises(ApplicationError, match="lease on this comparison expired"):
        rating_submit(assignment_id=assignment.pk, profile=slow, rating=good_rating(), now=later)
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.EXPIRED
    task.refresh_from_db()
    assert task.active_slots == 0


def test_the_sweep_expires_abandoned_leases(world: World):
    people = [world.annotator(f"ann{i}") for i in range(3)]
    for person in people:
        assignment_next(profile=person)
    task = world.tasks[0]
    task.refresh_from_db()
    assert task.active_slots == 3
    assert assignments_expire(now=timezone.now()) == 0
    assert assignments_expire(now=timezone.now() + timedelta(hours=1)) == 3
    task.refresh_from_db()
    assert task.active_slots == 0
    newcomer = world.annotator("newcomer")
    assert lease(newcomer).task_id == task.pk


def test_rejection_at_either_layer_voids_the_rating_and_reopens_the_slot(world: World):
    l1, l2 = world.reviewer("rev1", 1), world.reviewer("rev2", 2)
    task = world.tasks[0]
    first, second, third, fourth = (world.annotator(f"ann{i}") for i in range(4))

    a1 = lease(first)
    rating_submit(assignment_id=a1.pk, profile=first, rating=good_rating())
    rejected = review_reject(assignment_id=a1.pk, reviewer=l1, layer=1, reason="Ignores the bug")
    assert rejected.status == Assignment.Status.REJECTED
    assert rejected.layer1_reason == "Ignores the bug"

    a2 = lease(second)
    rating_submit(assignment_id=a2.pk, profile=second, rating=good_rating())
    review_approve(assignment_id=a2.pk, reviewer=l1, layer=1)
    review_reject(assignment_id=a2.pk, reviewer=l2, layer=2, reason="Justification is copied")

    task.refresh_from_db()
    assert task.active_slots == 0
    assert not ApprovedRating.objects.exists()
    # The first annotator is not handed the task again; someone else takes the slot.
    assert task not in eligible_tasks(profile=first)
    assert lease(third).task_id == task.pk
    assert lease(fourth).task_id == task.pk


def test_a_rejection_needs_a_reason(world: World):
    l1 = world.reviewer("rev1", 1)
    annotator = world.annotator("ann")
    assignment = lease(annotator)
    rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating())
    with pytest.raises(ApplicationError) as excinfo:
        review_reject(assignment_id=assignment.pk, reviewer=l1, layer=1, reason="  ")
    assert excinfo.value.field_errors == {"reason": ["required"]}


def test_reviewers_are_never_the_annotator_and_the_layers_are_different_people(world: World):
    both = world.annotator("both", is_layer1_reviewer=True, is_layer2_reviewer=True)
    other_l1 = world.reviewer("rev1", 1)
    assignment = lease(both)
    rating_submit(assignment_id=assignment.pk, profile=both, rating=good_rating())
    with pytest.raises(ApplicationError, match="cannot review your own rating"):
        review_approve(assignment_id=assignment.pk, reviewer=both, layer=1)

    annotator = world.annotator("ann")
    theirs = lease(annotator)
    rating_submit(assignment_id=theirs.pk, profile=annotator, rating=good_rating())
    review_approve(assignment_id=theirs.pk, reviewer=both, layer=1)
    with pytest.raises(ApplicationError, match="someone other than the layer-1 reviewer"):
        review_approve(assignment_id=theirs.pk, reviewer=both, layer=2)
    with pytest.raises(ApplicationError, match="not a layer-2 reviewer"):
        review_approve(assignment_id=theirs.pk, reviewer=other_l1, layer=2)
    with pytest.raises(ApplicationError, match="not waiting for layer-1 review"):
        review_approve(assignment_id=theirs.pk, reviewer=other_l1, layer=1)


def test_the_rating_form_is_validated_against_the_rubric_field_by_field(world: World):
    annotator = world.annotator("ann")
    assignment = lease(annotator)
    bad = RatingInput(
        preference=None,
        scores_left={"correctness": 9, "speed": 3},
        scores_right={},
        tags_left=["not-a-tag"],
        justification="short",
    )
    with pytest.raises(ApplicationError) as excinfo:
        rating_submit(assignment_id=assignment.pk, profile=annotator, rating=bad)
    errors = excinfo.value.field_errors
    assert set(errors) == {
        "preference",
        "score_left_correctness",
        "score_left_speed",
        "score_left_overall",
        "score_right_correctness",
        "score_right_overall",
        "tags_left",
        "justification",
    }
    assert errors["score_left_correctness"] == ["Must be between 1 and 5"]
    assert errors["justification"] == ["Write at least 10 characters explaining your choice"]
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.LEASED
    assert assignment.preference is None


def test_drafts_are_saved_but_never_submitted(world: World):
    annotator = world.annotator("ann")
    assignment = lease(annotator)
    assignment_draft_save(
        assignment_id=assignment.pk,
        profile=annotator,
        draft={"preference": "1", "justification": "half a tho", "csrfmiddlewaretoken": "x"},
    )
    assignment.refresh_from_db()
    assert assignment.draft == {"justification": "half a tho", "preference": "1"}
    assert assignment.status == Assignment.Status.LEASED
    assert assignment.submitted_at is None


def test_only_vetted_annotators_get_work_in_their_domain_without_lab_ties(world: World):
    applicant = world.annotator("applicant", status=AnnotatorProfile.Status.APPLICANT)
    with pytest.raises(ApplicationError, match="Only vetted annotators"):
        assignment_next(profile=applicant)
    outsider = world.annotator("outsider")
    outsider.domains.clear()
    assert assignment_next(profile=outsider) is None
    tied = world.annotator("tied")
    tied.affiliated_labs.add(world.models[0].lab)
    assert assignment_next(profile=tied) is None
    tied.affiliated_labs.set([LabFactory.create()])
    assert assignment_next(profile=tied) is not None


@pytest.mark.parametrize("layer", [1, 2])
def test_a_reviewer_tied_to_a_lab_never_reviews_its_models(world: World, layer: int):
    annotator = world.annotator("ann")
    l1 = world.reviewer("rev1", 1)
    tied = world.reviewer("tied", layer)
    # Layer 1 is tied to the lab of answer A, layer 2 to that of answer B: both sides count.
    tied.affiliated_labs.add(world.models[layer - 1].lab)
    assignment = lease(annotator)
    rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating())
    if layer == 2:
        review_approve(assignment_id=assignment.pk, reviewer=l1, layer=1)
    waiting = Assignment.objects.get(pk=assignment.pk).status

    assert not review_queue(reviewer=tied, layer=layer).filter(pk=assignment.pk).exists()
    with pytest.raises(ApplicationError, match="tied to a lab"):
        review_approve(assignment_id=assignment.pk, reviewer=tied, layer=layer)
    with pytest.raises(ApplicationError, match="tied to a lab"):
        review_reject(assignment_id=assignment.pk, reviewer=tied, layer=layer, reason="Biased")
    assignment.refresh_from_db()
    assert assignment.status == waiting
    assert getattr(assignment, f"layer{layer}_reviewer_id") is None
    assert not ApprovedRating.objects.exists()

    # The same reviewer with a tie to an unrelated lab reviews it as usual.
    tied.affiliated_labs.set([LabFactory.create()])
    assert review_queue(reviewer=tied, layer=layer).filter(pk=assignment.pk).exists()
    review_approve(assignment_id=assignment.pk, reviewer=tied, layer=layer)


def test_expertise_must_match_the_prompt_categories(world: World):
    from seal.services import category_add

    python = category_add(domain=world.domain, facet="language", value="Python")
    for prompt in world.prompts:
        prompt.categories.add(python)
    sql_only = world.annotator("sql", programming_languages=["SQL"])
    assert assignment_next(profile=sql_only) is None
    pythonista = world.annotator("py", programming_languages=["Python", "SQL"])
    assert assignment_next(profile=pythonista) is not None


def test_comparisons_need_two_models_on_one_prompt(world: World):
    prompt_responses = list(world.prompts[0].responses.all())
    other_prompt_response = ResponseFactory.create(model_version=world.models[0])
    with pytest.raises(ApplicationError, match="same prompt"):
        comparison_task_create(response_1=prompt_responses[0], response_2=other_prompt_response)
    with pytest.raises(ApplicationError, match="already compared"):
        comparison_task_create(response_1=prompt_responses[1], response_2=prompt_responses[0])
