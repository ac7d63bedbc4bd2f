import pytest
from django.db import IntegrityError, transaction

from seal.errors import ApplicationError
from seal.models import PromptExposure, Response
from seal.services import (
    domain_upsert,
    lab_create,
    lab_responses_collect,
    model_version_create,
    prompt_exposures_record,
    submission_create,
)
from tests.builders import domain_with_prompts, model_on
from tests.factories import (
    DEFAULT_RUBRIC,
    LabFactory,
    ModelVersionFactory,
    PromptFactory,
    ResponseFactory,
)

pytestmark = pytest.mark.django_db


def test_domain_upsert_validates_the_rubric_and_adds_categories_once():
    domain = domain_upsert(
        slug="coding", name="Coding", rubric=DEFAULT_RUBRIC, categories=[("language", "Python")]
    )
    domain_upsert(
        slug="coding",
        name="Coding",
        rubric=DEFAULT_RUBRIC,
        categories=[("language", "Python"), ("use case", "repair")],
    )
    assert sorted(domain.categories.values_list("facet", "value")) == [
        ("language", "Python"),
        ("use_case", "repair"),
    ]
    with pytest.raises(ApplicationError) as excinfo:
        domain_upsert(slug="bad", name="Bad", rubric={"dimensions": []})
    assert excinfo.value.field_errors["rubric"] == [
        "dimensions: at least one dimension is required"
    ]


def test_model_version_create_names_each_bad_field():
    lab = LabFactory.create()
    with pytest.raises(ApplicationError) as excinfo:
        model_version_create(lab=lab, name="", version="1", base_url="ftp://x", model_id="m")
    assert set(excinfo.value.field_errors) == {"name", "base_url"}
    with pytest.raises(ApplicationError) as excinfo:
        model_version_create(
            lab=lab,
            name="M",
            version="1",
            base_url="https://api.example.com/v1",
            model_id="m",
            generation_params={"temperature": "hot", "colour": 1},
        )
    assert set(excinfo.value.field_errors) == {
        "generation_params.temperature",
        "generation_params.colour",
    }
    created = model_version_create(
        lab=lab, name="M", version="1", base_url="https://api.example.com/v1", model_id="m"
    )
    with pytest.raises(ApplicationError, match="already registered"):
        model_version_create(
            lab=lab, name="M", version="1", base_url="https://api.example.com/v1", model_id="m"
        )
    assert created.has_api_secret is False


def test_lab_names_are_unique():
    lab_create(name="Acme AI")
    with pytest.raises(ApplicationError, match="already exists"):
        lab_create(name="Acme AI")


def test_a_model_keeps_one_response_per_prompt(fake_endpoint):
    domain, prompt_set = domain_with_prompts(2)
    model_version = model_on(fake_endpoint, "ok")
    answered = prompt_set.prompts.get(external_id="p0")
    first = ResponseFactory.create(model_version=model_version, prompt=answered, text="first")
    submission_create(model_version=model_version, domains=[domain.slug])
    lab_responses_collect(lab=model_version.lab)
    # The answered prompt is not sent again, and its answer stays.
    assert len(fake_endpoint.calls_for("ok")) == 1
    assert Response.objects.get(pk=first.pk).text == "first"
    assert Response.objects.filter(model_version=model_version).count() == 2
    with pytest.raises(IntegrityError), transaction.atomic():
        Response.objects.create(model_version=model_version, prompt=answered)


def test_an_ok_response_cannot_carry_an_error_in_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        Response.objects.create(
            model_version=ModelVersionFactory.create(),
            prompt=PromptFactory.create(),
            status=Response.Status.OK,
            error="boom",
        )


def test_the_first_exposure_of_a_lab_to_a_prompt_is_the_one_kept():
    lab = LabFactory.create()
    first_model, second_model = (
        ModelVersionFactory.create(lab=lab),
        ModelVersionFactory.create(lab=lab),
    )
    prompt = PromptFactory.create()
    first_seen = prompt_exposures_record(model_version=first_model, prompt_ids=[prompt.pk])
    assert PromptExposure.objects.count() == 1
    again = prompt_exposures_record(model_version=second_model, prompt_ids=[prompt.pk])
    assert again == first_seen
    assert PromptExposure.objects.get().model_version == first_model
    other_model = ModelVersionFactory.create()
    prompt_exposures_record(model_version=other_model, prompt_ids=[prompt.pk])
    assert PromptExposure.objects.count() == 2
    assert PromptExposure.objects.get(model_version=other_model).lab != lab
