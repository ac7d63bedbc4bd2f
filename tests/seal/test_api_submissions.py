"""Submissions through the lab API: submit, follow (counts only), filter, cancel."""

from __future__ import annotations

import pytest

from seal.models import ModelVersion, Response, Submission
from seal.services import lab_responses_collect
from tests.builders import domain_with_prompts, model_on
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/submissions/"
NO_EVALUATION_YET = {"comparisons_created": 0, "ratings_approved": 0}


def test_submit_and_follow_progress_to_collected(
    lab_client, fake_endpoint, django_capture_on_commit_callbacks
):
    domain_with_prompts(4, slug="coding")
    domain_with_prompts(3, slug="math")
    model_version = model_on(fake_endpoint, "ok", lab=lab_client.lab)
    body = {"model_version": model_version.pk, "domains": ["math", "coding", "math"]}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = lab_client.client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["status"] == "pending"
    assert created["domains"] == ["coding", "math"]
    assert created["model_version_name"] == str(model_version)
    assert created["progress"] == {
        "total": 7,
        "collected": 0,
        "failed": 0,
        "pending": 7,
        **NO_EVALUATION_YET,
    }
    assert len(callbacks) == 1  # the collection task, sent once the submission is committed

    for callback in callbacks:
        callback()
    detail = lab_client.client.get(f"{URL}{created['id']}/").json()
    assert detail["status"] == "collected"
    assert detail["progress"] == {
        "total": 7,
        "collected": 7,
        "failed": 0,
        "pending": 0,
        **NO_EVALUATION_YET,
    }
    assert detail["collection_started_at"] and detail["collection_finished_at"]


def test_progress_counts_failures(lab_client, fake_endpoint):
    domain, _ = domain_with_prompts(3)
    model_version = model_on(fake_endpoint, "error", lab=lab_client.lab)
    created = lab_client.client.post(
        URL, {"model_version": model_version.pk, "domains": [domain.slug]}, format="json"
    ).json()
    lab_responses_collect(lab=lab_client.lab)
    detail = lab_client.client.get(f"{URL}{created['id']}/").json()
    assert detail["status"] == "failed"
    assert detail["progress"] == {
        "total": 3,
        "collected": 0,
        "failed": 3,
        "pending": 0,
        **NO_EVALUATION_YET,
    }
    assert detail["status_detail"] == "No answer was collected. 3 of 3 calls failed: http_500 (3)."


def test_domains_are_checked_one_by_one(lab_client):
    domain_with_prompts(1, slug="ready")
    domain_with_prompts(0, slug="empty")
    model_version = ModelVersionFactory.create(lab=lab_client.lab)
    response = lab_client.client.post(
        URL,
        {"model_version": model_version.pk, "domains": ["ready", "empty", "nope"]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "domains": ["no active prompt set yet: empty", "unknown domain: nope"]
    }
    for bad, field in (
        ({"domains": []}, "domains"),
        ({"domains": ["Not A Slug!"]}, "domains.0"),
        ({"domains": "ready"}, "domains"),
        ({"model_version": "one"}, "model_version"),
        ({"model_version": 0}, "model_version"),
    ):
        body = {"model_version": model_version.pk, "domains": ["ready"], **bad}
        response = lab_client.client.post(URL, body, format="json")
        assert response.status_code == 400, bad
        assert list(response.json()["error"]["fields"]) == [field], bad
    assert not Submission.objects.exists()


def test_a_model_is_not_submitted_twice_for_a_domain_nor_when_retired(lab_client):
    domain, _ = domain_with_prompts(2)
    model_version = ModelVersionFactory.create(lab=lab_client.lab)
    body = {"model_version": model_version.pk, "domains": [domain.slug]}
    assert lab_client.client.post(URL, body, format="json").status_code == 201
    response = lab_client.client.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"domains": [f"already submitted: {domain.slug}"]}

    model_version.status = ModelVersion.Status.RETIRED
    model_version.save()
    response = lab_client.client.post(URL, body, format="json")
    assert response.json()["error"]["fields"] == {"model_version": ["retired"]}


def test_list_filters_by_status_domain_and_model(lab_client):
    domain_with_prompts(1, slug="coding")
    domain_with_prompts(1, slug="math")
    first = ModelVersionFactory.create(lab=lab_client.lab)
    second = ModelVersionFactory.create(lab=lab_client.lab)
    for model_version, domains in ((first, ["coding"]), (first, ["math"]), (second, ["math"])):
        body = {"model_version": model_version.pk, "domains": domains}
        assert lab_client.client.post(URL, body, format="json").status_code == 201
    Submission.objects.filter(model_version=second).update(status=Submission.Status.COLLECTED)

    def ids(**params):
        return {s["id"] for s in lab_client.client.get(URL, params).json()["results"]}

    assert len(ids()) == 3
    assert len(ids(domain="math")) == 2
    assert len(ids(model_version=first.pk)) == 2
    assert ids(status="collected") == set(
        Submission.objects.filter(model_version=second).values_list("pk", flat=True)
    )
    response = lab_client.client.get(URL, {"created_after": "yesterday"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["created_after"]
    # Offsets beyond PostgreSQL's ±15:59 are valid ISO 8601 (schemathesis found this 500).
    assert len(ids(created_after="2000-01-01T00:00:00+17:15")) == 3
    assert ids(created_before="2000-01-01T00:00:00-23:59") == set()


def test_filtering_by_another_labs_model_version_reads_like_a_missing_one(lab_client):
    theirs = ModelVersionFactory.create()
    missing = theirs.pk + 1000
    answers = [lab_client.client.get(URL, {"model_version": pk}) for pk in (theirs.pk, missing)]
    # It was 200 (empty) for another lab's id and 400 for a missing one: ids could be probed.
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json() == answers[1].json()
    assert list(answers[0].json()["error"]["fields"]) == ["model_version"]


def test_cancel_stops_a_pending_submission_and_is_idempotent(lab_client):
    domain, _ = domain_with_prompts(2)
    model_version = ModelVersionFactory.create(lab=lab_client.lab)
    created = lab_client.client.post(
        URL, {"model_version": model_version.pk, "domains": [domain.slug]}, format="json"
    ).json()
    cancel = f"{URL}{created['id']}/cancel/"
    response = lab_client.client.post(cancel)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancelled_at"]
    assert lab_client.client.post(cancel).json()["status"] == "cancelled"
    lab_responses_collect(lab=lab_client.lab)
    assert not Response.objects.exists()

    Submission.objects.filter(pk=created["id"]).update(status=Submission.Status.COMPLETED)
    response = lab_client.client.post(cancel)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "rejected",
        "message": "Only a pending or collecting submission can be cancelled; this one is "
        "completed.",
        "fields": {},
    }
    # A cancelled submission's domain can be submitted again.
    Submission.objects.filter(pk=created["id"]).update(status=Submission.Status.CANCELLED)
    again = lab_client.client.post(
        URL, {"model_version": model_version.pk, "domains": [domain.slug]}, format="json"
    )
    assert again.status_code == 201


def test_the_submission_pins_the_prompt_set_active_when_it_was_made(lab_client):
    domain, prompt_set = domain_with_prompts(2)
    model_version = ModelVersionFactory.create(lab=lab_client.lab)
    created = lab_client.client.post(
        URL, {"model_version": model_version.pk, "domains": [domain.slug]}, format="json"
    ).json()
    submission = Submission.objects.get(pk=created["id"])
    assert list(submission.prompt_sets.all()) == [prompt_set]


def test_progress_reports_comparisons_and_approved_ratings(settings):
    from annotation.services import assignment_next, rating_submit, review_approve
    from seal.services import lab_api_key_create
    from tests.builders import api_client, build_world, good_rating

    settings.SEAL_GOLD_RATE = 0.0
    world = build_world(task_count=3)
    model_version = world.models[0]
    submission = Submission.objects.create(
        model_version=model_version, status=Submission.Status.COMPARING
    )
    submission.domains.add(world.domain)
    annotator = world.annotator("ann")
    assignment = assignment_next(profile=annotator)
    assert assignment is not None
    rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating())
    review_approve(assignment_id=assignment.pk, reviewer=world.reviewer("r1", 1), layer=1)
    review_approve(assignment_id=assignment.pk, reviewer=world.reviewer("r2", 2), layer=2)

    _, raw_key = lab_api_key_create(lab=model_version.lab, name="ci")
    detail = api_client(raw_key).get(f"{URL}{submission.pk}/").json()
    assert detail["progress"]["comparisons_created"] == 3
    assert detail["progress"]["ratings_approved"] == 1
    # The other lab's key does not see this submission at all.
    _, other_key = lab_api_key_create(lab=world.models[1].lab, name="ci")
    assert api_client(other_key).get(f"{URL}{submission.pk}/").status_code == 404
