"""Fixtures for the lab API and response collection tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from seal.models import Domain, Lab, ModelVersion, Prompt, PromptSet
from seal.prompt_import import content_hash
from seal.services import lab_api_key_create
from tests.factories import DomainFactory, LabFactory, ModelVersionFactory, PromptSetFactory
from tests.fake_endpoint import FakeEndpoint


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """Rate-limit counters live in the cache; every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@dataclass
class LabClient:
    lab: Lab
    raw_key: str
    client: APIClient


def api_client(raw_key: str | None = None) -> APIClient:
    client = APIClient()
    if raw_key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return client


@pytest.fixture
def make_lab_client(db) -> Callable[..., LabClient]:
    def make(name: str | None = None) -> LabClient:
        lab = LabFactory.create(**({"name": name} if name else {}))
        _, raw_key = lab_api_key_create(lab=lab, name="ci")
        return LabClient(lab, raw_key, api_client(raw_key))

    return make


@pytest.fixture
def lab_client(make_lab_client) -> LabClient:
    return make_lab_client()


def domain_with_prompts(
    count: int, *, slug: str | None = None, text: str = "Private prompt {i}: solve it."
) -> tuple[Domain, PromptSet]:
    """A domain whose active prompt set holds `count` prompts."""
    domain = DomainFactory.create(**({"slug": slug} if slug else {}))
    prompt_set = PromptSetFactory.create(domain=domain, status=PromptSet.Status.ACTIVE)
    texts = [text.format(i=i) + f" [{domain.slug}]" for i in range(count)]
    Prompt.objects.bulk_create(
        Prompt(prompt_set=prompt_set, text=t, content_hash=content_hash(t), external_id=f"p{i}")
        for i, t in enumerate(texts)
    )
    return domain, prompt_set


@pytest.fixture
def fake_endpoint(settings) -> Iterator[FakeEndpoint]:
    """A local chat-completions server, allowed past the address guard, with short timeouts."""
    settings.SEAL_COLLECTION_TIMEOUT_SECONDS = 1.0
    settings.SEAL_COLLECTION_MAX_ATTEMPTS = 3
    settings.SEAL_COLLECTION_BACKOFF_BASE_SECONDS = 0.05
    settings.SEAL_COLLECTION_BACKOFF_MAX_SECONDS = 2.0
    settings.SEAL_COLLECTION_CONCURRENCY_PER_LAB = 4
    with FakeEndpoint() as endpoint:
        settings.SEAL_ENDPOINT_ALLOWED_HOSTS = [endpoint.address]
        yield endpoint


def model_on(endpoint: FakeEndpoint, model_id: str, **kwargs) -> ModelVersion:
    return ModelVersionFactory.create(base_url=endpoint.base_url, model_id=model_id, **kwargs)
