"""The admin keeps the rules the API and the services keep: each is declared once, on the model.

Generation parameters (ModelVersion.generation_params' validator, the rule of
model_version_create) and a prompt's text, hash, gold answer, set and categories (Prompt.problems,
the import's rules) are refused in the admin by field, with the API's and the import's words.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from annotation.services import prompt_edit
from seal.errors import ApplicationError
from seal.models import Domain, ModelVersion, Prompt, PromptSet
from seal.prompt_import import content_hash
from seal.services import model_version_create, prompt_set_activate, prompt_set_import
from tests.factories import (
    CategoryFactory,
    DomainFactory,
    LabFactory,
    ModelVersionFactory,
    PromptFactory,
    PromptSetFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

BAD_PARAMS: list[tuple[Any, str]] = [
    ({"temperature": 5}, "temperature: must be between 0 and 2"),
    ({"max_tokens": 1.5}, "max_tokens: wrong type"),
    ({"top_p": True}, "top_p: wrong type"),
    ({"logit_bias": {}}, "logit_bias: unknown parameter"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop: at most 4 strings"),
    (["temperature", 1], "must be a JSON object"),
]


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    return client


def errors_of(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, response.status_code
    return dict(response.context["adminform"].form.errors)


def model_version_form(lab_id: int, params: Any, **override: str) -> dict[str, Any]:
    return {
        "lab": lab_id,
        "name": "Orca",
        "version": "1",
        "base_url": "https://api.lab.example/v1",
        "model_id": "orca",
        "generation_params": json.dumps(params),
        "api_secret": "",
        "status": ModelVersion.Status.ACTIVE,
        **override,
    }


@pytest.mark.parametrize(("params", "message"), BAD_PARAMS)
def test_the_admin_refuses_generation_params_the_api_refuses(staff_client, params, message):
    lab = LabFactory.create()
    if isinstance(params, dict):
        with pytest.raises(ApplicationError) as refused:
            model_version_create(
                lab=lab,
                name="Orca",
                version="1",
                base_url="https://api.lab.example/v1",
                model_id="orca",
                generation_params=params,
            )
        assert list(refused.value.field_errors) == [f"generation_params.{next(iter(params))}"]
    response = staff_client.post(
        reverse("admin:seal_modelversion_add"), model_version_form(lab.pk, params)
    )
    errors = errors_of(response)
    assert list(errors) == ["generation_params"]
    assert message in errors["generation_params"][0]
    assert not ModelVersion.objects.exists()


def test_an_edit_to_bad_generation_params_is_refused_and_nothing_changes(staff_client):
    model_version = ModelVersionFactory.create(generation_params={"temperature": 0.2})
    url = reverse("admin:seal_modelversion_change", args=[model_version.pk])
    form = model_version_form(
        model_version.lab_id,
        {"temperature": 0.2, "seed": 2**70},
        name=model_version.name,
        version=model_version.version,
        base_url=model_version.base_url,
        model_id=model_version.model_id,
    )
    errors = errors_of(staff_client.post(url, form))
    assert list(errors) == ["generation_params"]
    assert "seed: must be between" in errors["generation_params"][0]
    model_version.refresh_from_db()
    assert model_version.generation_params == {"temperature": 0.2}
    # What the API accepts, the admin stores.
    good = {"temperature": 0.7, "max_tokens": 512, "stop": ["\n\n"]}
    assert (
        staff_client.post(url, {**form, "generation_params": json.dumps(good)}).status_code == 302
    )
    model_version.refresh_from_db()
    assert model_version.generation_params == good


def test_empty_generation_params_are_none_as_in_the_api(staff_client):
    lab = LabFactory.create()
    form = model_version_form(lab.pk, {})
    response = staff_client.post(
        reverse("admin:seal_modelversion_add"), {**form, "generation_params": ""}
    )
    assert response.status_code == 302
    assert ModelVersion.objects.get().generation_params == {}


# --- prompts ----------------------------------------------------------------------------------


def prompt_form(prompt_set: PromptSet, text: str, **override: Any) -> dict[str, Any]:
    return {
        "prompt_set": prompt_set.pk,
        "external_id": "",
        "text": text,
        "gold_answer": "",
        "is_public_sample": "",
        **override,
    }


def draft_set(**domain_fields: Any) -> PromptSet:
    return PromptSetFactory.create(
        domain=DomainFactory.create(**domain_fields), status=PromptSet.Status.DRAFT
    )


def test_a_prompt_added_in_the_admin_carries_the_hash_of_its_text(staff_client):
    prompt_set = draft_set()
    text = "  Explain   the\u00a0difference between a list and a tuple. "
    response = staff_client.post(reverse("admin:seal_prompt_add"), prompt_form(prompt_set, text))
    assert response.status_code == 302
    prompt = Prompt.objects.get()
    assert prompt.content_hash == content_hash(text)


def test_a_text_edit_in_the_admin_moves_the_hash_with_the_text(staff_client):
    prompt = PromptFactory.create(text="Sort a list.")
    url = reverse("admin:seal_prompt_change", args=[prompt.pk])
    form = prompt_form(prompt.prompt_set, "Sort a list of tuples by their second item.")
    assert staff_client.post(url, form).status_code == 302
    prompt.refresh_from_db()
    assert prompt.text == "Sort a list of tuples by their second item."
    assert prompt.content_hash == content_hash(prompt.text)


def test_a_text_edit_that_copies_another_prompt_of_the_set_is_refused_as_the_import_does(
    staff_client,
):
    prompt_set = draft_set()
    prompt_set_import(
        domain=prompt_set.domain,
        version=prompt_set.version,
        lines=[
            json.dumps({"text": "Sort a list.", "external_id": "sort-1"}),
            json.dumps({"text": "Reverse a string.", "external_id": "rev-1"}),
        ],
    )
    edited = Prompt.objects.get(external_id="rev-1")
    url = reverse("admin:seal_prompt_change", args=[edited.pk])
    # The same text up to whitespace: the same normalised hash, as a file line would collide.
    form = prompt_form(prompt_set, " Sort  a list.\n", external_id="rev-1")
    errors = errors_of(staff_client.post(url, form))
    assert errors == {"text": ["duplicate of prompt sort-1 already in this set"]}
    edited.refresh_from_db()
    assert edited.text == "Reverse a string."
    assert edited.content_hash == content_hash("Reverse a string.")
    # The import says the same of a file line.
    with pytest.raises(ApplicationError) as refused:
        prompt_set_import(
            domain=prompt_set.domain,
            version=prompt_set.version,
            lines=[json.dumps({"text": " Sort  a list.\n"})],
        )
    assert "duplicate of prompt sort-1 already in this set" in refused.value.message
    # And so does the service the admin edits through.
    with pytest.raises(ApplicationError) as refused:
        prompt_edit(prompt=edited, changes={"text": "Sort a list. "})
    assert refused.value.field_errors == {
        "text": ["duplicate of prompt sort-1 already in this set"]
    }


def test_a_second_copy_added_in_the_admin_is_refused(staff_client):
    prompt_set = draft_set()
    add = reverse("admin:seal_prompt_add")
    assert staff_client.post(add, prompt_form(prompt_set, "Sort a list.")).status_code == 302
    errors = errors_of(staff_client.post(add, prompt_form(prompt_set, "Sort  a list.")))
    assert list(errors) == ["text"]
    assert "duplicate of prompt #" in errors["text"][0]
    assert Prompt.objects.count() == 1


def test_a_gold_answer_is_checked_and_normalised_as_the_import_does(staff_client):
    prompt_set = draft_set(answer_grading=Domain.AnswerGrading.NUMERIC)
    add = reverse("admin:seal_prompt_add")
    for gold, message in (
        ("", "'gold_answer' is required in this auto-graded domain"),
        ("about 42", "'gold_answer' must be a number in this domain, got 'about 42'"),
    ):
        errors = errors_of(staff_client.post(add, prompt_form(prompt_set, "Q?", gold_answer=gold)))
        assert errors == {"gold_answer": [message]}
    assert not Prompt.objects.exists()
    form = prompt_form(prompt_set, "How much?", gold_answer="1,250.50")
    assert staff_client.post(add, form).status_code == 302
    assert Prompt.objects.get().gold_answer == "1250.5"


def test_prompts_are_added_only_to_a_draft_set_as_the_import_adds_them(staff_client):
    active = PromptSetFactory.create(status=PromptSet.Status.ACTIVE)
    errors = errors_of(
        staff_client.post(reverse("admin:seal_prompt_add"), prompt_form(active, "A new one."))
    )
    assert list(errors) == ["prompt_set"]
    assert "prompts can only be added to a draft set" in errors["prompt_set"][0]
    assert not Prompt.objects.exists()
    # A prompt already in the active set stays editable there.
    prompt = PromptFactory.create(prompt_set=active, text="Old text.")
    url = reverse("admin:seal_prompt_change", args=[prompt.pk])
    assert staff_client.post(url, prompt_form(active, "Fixed text.")).status_code == 302


def test_a_prompt_takes_only_its_domains_categories(staff_client):
    prompt_set = draft_set()
    own = CategoryFactory.create(domain=prompt_set.domain)
    foreign = CategoryFactory.create()
    add = reverse("admin:seal_prompt_add")
    errors = errors_of(
        staff_client.post(add, prompt_form(prompt_set, "Q?", categories=[own.pk, foreign.pk]))
    )
    assert list(errors) == ["categories"]
    assert str(foreign) in errors["categories"][0]
    assert not Prompt.objects.exists()
    assert (
        staff_client.post(add, prompt_form(prompt_set, "Q?", categories=[own.pk])).status_code
        == 302
    )
    assert list(Prompt.objects.get().categories.all()) == [own]


# --- prompt sets ------------------------------------------------------------------------------


def prompt_set_form(prompt_set: PromptSet, status: str) -> dict[str, Any]:
    return {
        "domain": prompt_set.domain_id,
        "version": prompt_set.version,
        "status": status,
        "description": "",
    }


def test_a_set_becomes_active_in_the_admin_only_as_prompt_set_activate_makes_it(staff_client):
    domain = DomainFactory.create()
    add = reverse("admin:seal_promptset_add")
    new = PromptSet(domain=domain, version="2026-12")
    errors = errors_of(staff_client.post(add, prompt_set_form(new, PromptSet.Status.ACTIVE)))
    assert errors == {"status": ["An empty prompt set cannot be activated"]}
    assert not PromptSet.objects.exists()

    retired = PromptSetFactory.create(domain=domain, status=PromptSet.Status.RETIRED)
    PromptFactory.create(prompt_set=retired)
    url = reverse("admin:seal_promptset_change", args=[retired.pk])
    errors = errors_of(staff_client.post(url, prompt_set_form(retired, PromptSet.Status.ACTIVE)))
    assert errors == {"status": ["Only a draft set can be activated; this one is retired"]}
    retired.refresh_from_db()
    assert retired.status == PromptSet.Status.RETIRED
    # The service says the same.
    with pytest.raises(ApplicationError, match="this one is retired"):
        prompt_set_activate(prompt_set=retired)

    draft = PromptSetFactory.create(domain=domain, status=PromptSet.Status.DRAFT)
    PromptFactory.create(prompt_set=draft)
    url = reverse("admin:seal_promptset_change", args=[draft.pk])
    assert (
        staff_client.post(url, prompt_set_form(draft, PromptSet.Status.ACTIVE)).status_code == 302
    )
    other = PromptSetFactory.create(domain=domain, status=PromptSet.Status.DRAFT)
    PromptFactory.create(prompt_set=other)
    url = reverse("admin:seal_promptset_change", args=[other.pk])
    errors = errors_of(staff_client.post(url, prompt_set_form(other, PromptSet.Status.ACTIVE)))
    assert list(errors) == ["status"]
    assert "Another set of this domain is active" in errors["status"][0]
