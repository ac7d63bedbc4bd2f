"""Comparisons made in the admin keep comparison_task_create's rules (ComparisonTask.pair_problems
and clean), and an answer edited through response_edit is rendered again from its new text."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import ComparisonTask
from annotation.services import (
    assignment_next,
    comparison_task_create,
    rating_submit,
    response_edit,
    review_approve,
)
from seal.answer_style import answer_style
from seal.errors import ApplicationError
from seal.models import Prompt, Response, ResponseStyle
from seal.services import response_styles_record
from tests.builders import World, good_rating
from tests.factories import (
    DomainFactory,
    PromptFactory,
    ResponseFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    return client


def task_form(first: Response, second: Response, **override: Any) -> dict[str, Any]:
    return {
        "domain": first.prompt.prompt_set.domain_id,
        "prompt": first.prompt_id,
        "response_a": first.pk,
        "response_b": second.pk,
        "status": ComparisonTask.Status.OPEN,
        "is_gold": "",
        "gold_expected_preference": "",
        **override,
    }


def add(client: Client, form: dict[str, Any]) -> Any:
    return client.post(reverse("admin:annotation_comparisontask_add"), form)


def refused_by(client: Client, form: dict[str, Any]) -> dict[str, list[str]]:
    before = ComparisonTask.objects.count()
    response = add(client, form)
    assert response.status_code == 200, response.status_code
    assert ComparisonTask.objects.count() == before
    return dict(response.context["adminform"].form.errors)


def fresh_prompt(world: World) -> Any:
    return PromptFactory.create(prompt_set=world.prompts[0].prompt_set)


def test_the_admin_refuses_a_comparison_across_two_prompts(staff_client, world: World):
    model_a, model_b = world.models
    first = ResponseFactory.create(model_version=model_a, prompt=fresh_prompt(world))
    other = ResponseFactory.create(model_version=model_b, prompt=fresh_prompt(world))
    errors = refused_by(staff_client, task_form(first, other))
    assert errors == {"response_b": ["Both responses must answer the same prompt"]}
    with pytest.raises(ApplicationError, match="Both responses must answer the same prompt"):
        comparison_task_create(response_1=first, response_2=other)


def test_the_admin_refuses_a_comparison_of_one_model_with_itself(staff_client, world: World):
    # One answer per model and prompt: the same model twice is the same answer twice.
    answer = ResponseFactory.create(model_version=world.models[0], prompt=fresh_prompt(world))
    errors = refused_by(staff_client, task_form(answer, answer))
    assert errors == {"response_b": ["A comparison needs two different model versions"]}
    with pytest.raises(ApplicationError, match="two different model versions"):
        comparison_task_create(response_1=answer, response_2=answer)


def test_the_admin_refuses_an_answer_not_collected(staff_client, world: World):
    prompt = fresh_prompt(world)
    first = ResponseFactory.create(model_version=world.models[0], prompt=prompt)
    failed = ResponseFactory.create(
        model_version=world.models[1], prompt=prompt, status=Response.Status.FAILED, text=""
    )
    errors = refused_by(staff_client, task_form(first, failed))
    assert errors == {"response_b": ["Only collected responses can be compared"]}


def test_the_prompt_and_domain_of_an_admin_comparison_are_its_answers(staff_client, world: World):
    prompt = fresh_prompt(world)
    first, second = (ResponseFactory.create(model_version=m, prompt=prompt) for m in world.models)
    errors = refused_by(
        staff_client,
        task_form(first, second, prompt=world.prompts[1].pk, domain=DomainFactory.create().pk),
    )
    assert set(errors) == {"prompt", "domain"}
    assert "Must be the prompt both responses answer" in errors["prompt"][0]
    errors = refused_by(staff_client, task_form(second, first))
    assert "Response B must be the one with the higher id" in errors["response_b"][0]
    # The pair as the service would store it is taken.
    assert add(staff_client, task_form(first, second)).status_code == 302
    task = ComparisonTask.objects.get(response_a=first, response_b=second)
    assert (task.prompt_id, task.domain_id) == (prompt.pk, world.domain.pk)


def test_an_edited_answer_is_rendered_and_counted_again_from_its_new_text(world: World):
    answer = ResponseFactory.create(text="plain")
    response_styles_record(responses=[(answer.pk, answer.text)])
    edited = response_edit(
        response=answer, changes={"text": "Use **sorted**.\n\n<script>alert(1)</script>"}
    )
    assert "<strong>sorted</strong>" in edited.html
    assert "<script>" not in edited.html
    answer.refresh_from_db()
    assert answer.html == edited.html
    # The style counts the leaderboards' style control reads follow the text too.
    style = ResponseStyle.objects.get(response=answer)
    assert (style.tokens, style.headers, style.list_items, style.bold, style.code_blocks) == (
        answer_style(answer.text).as_tuple()
    )
    assert style.bold == 1
    # A change that leaves the text alone leaves the rendering alone.
    before = answer.html
    response_edit(response=answer, changes={"finish_reason": "length"})
    answer.refresh_from_db()
    assert answer.html == before


def test_a_rated_prompt_with_a_stale_hash_keeps_its_other_fields_editable(
    staff_client, world: World, settings
):
    # Stored by an older admin, which left the hash behind its text; a final rating then froze it.
    for prompt in world.prompts:
        Prompt.objects.filter(pk=prompt.pk).update(content_hash=f"stale-{prompt.pk}")
    settings.SEAL_GOLD_RATE = 0.0
    annotator = world.annotator("ann")
    assignment = assignment_next(profile=annotator)
    assert assignment is not None
    rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating())
    review_approve(assignment_id=assignment.pk, reviewer=world.reviewer("r1", 1), layer=1)
    review_approve(assignment_id=assignment.pk, reviewer=world.reviewer("r2", 2), layer=2)
    prompt = ComparisonTask.objects.get(pk=assignment.task_id).prompt
    url = reverse("admin:seal_prompt_change", args=[prompt.pk])
    form = {"external_id": "renamed", "gold_answer": "", "is_public_sample": "on"}
    assert staff_client.post(url, form).status_code == 302
    prompt.refresh_from_db()
    assert (prompt.external_id, prompt.is_public_sample) == ("renamed", True)
    assert prompt.content_hash == f"stale-{prompt.pk}"
