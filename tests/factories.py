"""factory_boy factories for the catalog and the people."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth.models import User

from annotation.models import AnnotatorProfile
from seal.models import Category, Domain, Lab, ModelVersion, Prompt, PromptSet, Response
from seal.prompt_import import content_hash
from seal.rendering import markdown_render

DEFAULT_RUBRIC: dict[str, Any] = {
    "dimensions": [
        {"key": "correctness", "label": "Correctness", "scale": {"min": 1, "max": 5}},
        {"key": "overall", "label": "Overall", "scale": {"min": 1, "max": 5}},
    ],
    "issue_tags": [{"key": "correctness", "label": "Correctness / functionality"}],
    "justification_min_chars": 10,
}


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("test-password-123")


class DomainFactory(factory.django.DjangoModelFactory[Domain]):
    class Meta:
        model = Domain

    slug = factory.Sequence(lambda n: f"domain-{n}")
    name = factory.Sequence(lambda n: f"Domain {n}")
    rubric = factory.LazyFunction(lambda: dict(DEFAULT_RUBRIC))


class CategoryFactory(factory.django.DjangoModelFactory[Category]):
    class Meta:
        model = Category

    domain = factory.SubFactory(DomainFactory)
    facet = "language"
    value = factory.Sequence(lambda n: f"Lang{n}")
    slug = factory.LazyAttribute(lambda o: f"{o.facet}-{o.value}".lower())


class PromptSetFactory(factory.django.DjangoModelFactory[PromptSet]):
    class Meta:
        model = PromptSet

    domain = factory.SubFactory(DomainFactory)
    version = factory.Sequence(lambda n: f"v{n}")
    status = PromptSet.Status.ACTIVE


class PromptFactory(factory.django.DjangoModelFactory[Prompt]):
    class Meta:
        model = Prompt

    prompt_set = factory.SubFactory(PromptSetFactory)
    text = factory.Sequence(lambda n: f"Private prompt number {n}: explain something specific.")
    content_hash = factory.LazyAttribute(lambda o: content_hash(o.text))


class LabFactory(factory.django.DjangoModelFactory[Lab]):
    class Meta:
        model = Lab

    name = factory.Sequence(lambda n: f"Lab {n}")
    slug = factory.Sequence(lambda n: f"lab-{n}")


class ModelVersionFactory(factory.django.DjangoModelFactory[ModelVersion]):
    class Meta:
        model = ModelVersion

    lab = factory.SubFactory(LabFactory)
    name = factory.Sequence(lambda n: f"Model{n}")
    version = "1.0"
    base_url = "https://api.example.com/v1"
    model_id = factory.LazyAttribute(lambda o: o.name.lower())


class ResponseFactory(factory.django.DjangoModelFactory[Response]):
    class Meta:
        model = Response

    model_version = factory.SubFactory(ModelVersionFactory)
    prompt = factory.SubFactory(PromptFactory)
    status = Response.Status.OK
    text = factory.Sequence(lambda n: f"An answer, number {n}.")
    # As the collector stores it (test texts are small and trusted: rendered in-process).
    html = factory.LazyAttribute(lambda response: str(markdown_render(response.text)))


class AnnotatorProfileFactory(factory.django.DjangoModelFactory[AnnotatorProfile]):
    class Meta:
        model = AnnotatorProfile

    user = factory.SubFactory(UserFactory)
    status = AnnotatorProfile.Status.VETTED
