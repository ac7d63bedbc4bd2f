"""Fixtures for the lab API and response collection tests (builders in tests/builders.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.core.cache import cache

from seal.services import lab_api_key_create
from tests.builders import LabClient, api_client
from tests.factories import LabFactory
from tests.fake_endpoint import FakeEndpoint


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """Rate-limit counters live in the cache; every test starts with none."""
    cache.clear()
    yield
    cache.clear()


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
