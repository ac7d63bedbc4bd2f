"""Staff add submissions in the admin through `submission_create`, and cannot edit what it owns.

The add form takes what the service takes (a model version and domains); each of the service's
refusals shows on the form, on its field, in the API's words, and nothing is written. A valid add
creates what the API's submit creates: a pending submission pinned to the domains' active sets,
and one collection task sent after commit. On change every field is read-only: the status moves
only through the services (collection, scheduling, completion, and the admin's cancel action).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from seal.models import Domain, ModelVersion, PromptSet, Submission
from seal.services import submission_create
from seal.task_names import LAB_RESPONSES_COLLECT
from seal.tasking import TaskSend
from tests.builders import domain_with_prompts
from tests.factories import ModelVersionFactory, PromptSetFactory, UserFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:seal_submission_add")
CHANGELIST = reverse("admin:seal_submission_changelist")


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    return client


def form_errors(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, response.status_code
    return {
        field: list(errors) for field, errors in response.context["adminform"].form.errors.items()
    }


def add(client: Client, model_version: ModelVersion, domains: list[Domain], **extra: Any) -> Any:
    # A status is posted too, so the same post was a complete form before the add went through
    # the service: these tests show what the service refuses, not a field missing.
    body = {"model_version": model_version.pk, "domains": [d.pk for d in domains]}
    return client.post(ADD, {**body, "status": Submission.Status.PENDING, **extra})


def test_the_add_refuses_a_retired_model_version(staff_client):
    domain, _ = domain_with_prompts(2)
    model_version = ModelVersionFactory.create(status=ModelVersion.Status.RETIRED)
    assert form_errors(add(staff_client, model_version, [domain])) == {"model_version": ["retired"]}
    assert not Submission.objects.exists()


def test_the_add_refuses_a_domain_without_an_active_prompt_set(staff_client):
    ready, _ = domain_with_prompts(1, slug="ready")
    empty, _ = domain_with_prompts(0, slug="empty")
    draft, _ = domain_with_prompts(2, slug="draft")
    PromptSet.objects.filter(domain=draft).update(status=PromptSet.Status.DRAFT)
    model_version = ModelVersionFactory.create()
    assert form_errors(add(staff_client, model_version, [ready, empty, draft])) == {
        "domains": ["no active prompt set yet: draft", "no active prompt set yet: empty"]
    }
    assert not Submission.objects.exists()


def test_the_add_refuses_an_inactive_domain_as_the_api_does(staff_client):
    closed, _ = domain_with_prompts(1, slug="closed")
    Domain.objects.filter(pk=closed.pk).update(is_active=False)
    model_version = ModelVersionFactory.create()
    assert form_errors(add(staff_client, model_version, [closed])) == {
        "domains": ["unknown domain: closed"]
    }
    assert not Submission.objects.exists()


def test_the_add_refuses_a_domain_the_model_was_already_submitted_for(staff_client):
    domain, _ = domain_with_prompts(2)
    model_version = ModelVersionFactory.create()
    submission_create(model_version=model_version, domains=[domain.slug])
    assert form_errors(add(staff_client, model_version, [domain])) == {
        "domains": [f"already submitted: {domain.slug}"]
    }
    assert Submission.objects.count() == 1


def test_the_add_refuses_no_domain_with_the_services_words(staff_client):
    model_version = ModelVersionFactory.create()
    assert form_errors(add(staff_client, model_version, [])) == {"domains": ["at least one domain"]}
    assert not Submission.objects.exists()


def test_a_valid_add_creates_what_the_service_creates(
    staff_client, django_capture_on_commit_callbacks
):
    coding, coding_set = domain_with_prompts(3, slug="coding")
    math, math_set = domain_with_prompts(2, slug="math")
    # A later draft set does not move the target: the active sets are pinned.
    PromptSetFactory.create(domain=math, status=PromptSet.Status.DRAFT)
    model_version = ModelVersionFactory.create()
    other_set = PromptSetFactory.create(status=PromptSet.Status.ACTIVE)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        # Fields the service owns are not the add form's: posted, they are ignored.
        response = add(
            staff_client,
            model_version,
            [math, coding],
            status=Submission.Status.COMPLETED,
            prompt_sets=[other_set.pk],
            status_detail="forged",
        )
    assert response.status_code == 302, form_errors(response)
    submission = Submission.objects.get()
    assert submission.model_version == model_version
    assert submission.status == Submission.Status.PENDING
    assert submission.status_detail == ""
    assert set(submission.domains.all()) == {coding, math}
    assert set(submission.prompt_sets.all()) == {coding_set, math_set}
    assert submission.collection_started_at is None
    assert [c for c in callbacks if isinstance(c, TaskSend)] == [
        TaskSend(LAB_RESPONSES_COLLECT, (model_version.lab_id,))
    ]
    assert len(callbacks) == 1  # the collection task, sent once the submission is committed


def test_the_add_form_shows_only_what_the_service_takes(staff_client):
    page = staff_client.get(ADD)
    assert list(page.context["adminform"].form.fields) == ["model_version", "domains"]


def change_form(submission: Submission, **override: Any) -> dict[str, Any]:
    return {
        "model_version": submission.model_version_id,
        "domains": [d.pk for d in submission.domains.all()],
        "prompt_sets": [s.pk for s in submission.prompt_sets.all()],
        "status": submission.status,
        "status_detail": submission.status_detail,
        **override,
    }


def test_editing_cannot_move_the_status_nor_what_the_service_recorded(staff_client):
    domain, prompt_set = domain_with_prompts(2)
    other, _ = domain_with_prompts(1)
    model_version = ModelVersionFactory.create()
    submission = submission_create(model_version=model_version, domains=[domain.slug])
    url = reverse("admin:seal_submission_change", args=[submission.pk])
    page = staff_client.get(url)
    assert page.status_code == 200
    assert list(page.context["adminform"].form.fields) == []
    assert 'name="_save"' not in page.content.decode()
    for status in (Submission.Status.COMPLETED, Submission.Status.COLLECTED, "nonsense"):
        posted = staff_client.post(
            url,
            change_form(
                submission,
                status=status,
                domains=[other.pk],
                prompt_sets=[],
                model_version=ModelVersionFactory.create().pk,
                status_detail="edited",
            ),
        )
        assert posted.status_code == 302
        submission.refresh_from_db()
        assert submission.status == Submission.Status.PENDING
        assert submission.status_detail == ""
        assert submission.model_version == model_version
        assert list(submission.domains.all()) == [domain]
        assert list(submission.prompt_sets.all()) == [prompt_set]


def test_staff_cancel_through_the_service_and_only_from_its_states(staff_client):
    domain, _ = domain_with_prompts(1)
    pending = submission_create(model_version=ModelVersionFactory.create(), domains=[domain.slug])
    completed = submission_create(model_version=ModelVersionFactory.create(), domains=[domain.slug])
    Submission.objects.filter(pk=completed.pk).update(status=Submission.Status.COMPLETED)
    response = staff_client.post(
        CHANGELIST,
        {"action": "cancel_submissions", "_selected_action": [pending.pk, completed.pk]},
        follow=True,
    )
    assert response.status_code == 200
    pending.refresh_from_db()
    completed.refresh_from_db()
    assert pending.status == Submission.Status.CANCELLED
    assert pending.cancelled_at is not None
    assert pending.status_detail == "Cancelled by SEAL staff."
    assert completed.status == Submission.Status.COMPLETED
    shown = [str(message) for message in response.context["messages"]]
    assert any("1 submission(s) cancelled" in message for message in shown), shown
    assert any("only a pending or collecting submission" in m.lower() for m in shown), shown


def test_staff_cannot_delete_a_submission_only_cancel_it(staff_client):
    domain, _ = domain_with_prompts(1)
    submission = submission_create(
        model_version=ModelVersionFactory.create(), domains=[domain.slug]
    )
    delete_url = reverse("admin:seal_submission_delete", args=[submission.pk])
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 403
    changelist = reverse("admin:seal_submission_changelist")
    bulk = {"action": "delete_selected", "_selected_action": [submission.pk], "post": "yes"}
    staff_client.post(changelist, bulk)
    assert Submission.objects.filter(pk=submission.pk).exists()
