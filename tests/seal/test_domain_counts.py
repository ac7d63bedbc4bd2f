"""Prompt and category counts per domain, on the home page and in the lab API's domain list."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from seal.models import Domain, Prompt, PromptSet
from tests.factories import CategoryFactory, DomainFactory, PromptFactory, PromptSetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def domains() -> dict[str, Domain]:
    """Coding: 4 active prompts each carrying 2-3 of the domain's 3 categories, and a retired set
    of 2 prompts that do not count. Empty: no prompts, no categories."""
    coding = DomainFactory.create(slug="coding", name="Coding")
    categories = [CategoryFactory.create(domain=coding, value=v) for v in ("Python", "Go", "SQL")]
    active = PromptSetFactory.create(domain=coding, status=PromptSet.Status.ACTIVE)
    retired = PromptSetFactory.create(domain=coding, status=PromptSet.Status.RETIRED)
    for i in range(4):
        prompt = PromptFactory.create(prompt_set=active, text=f"Active prompt {i}")
        prompt.categories.set(categories[: 2 + i % 2])
    for i in range(2):
        PromptFactory.create(prompt_set=retired, text=f"Retired prompt {i}").categories.set(
            categories
        )
    empty = DomainFactory.create(slug="empty", name="Empty")
    assert Prompt.objects.filter(prompt_set__domain=coding).count() == 6
    return {"coding": coding, "empty": empty}


def test_the_home_page_counts_each_prompt_once(domains):
    html = Client().get("/").content.decode()
    counts = dict(
        re.findall(r">(\w+)</a></h3>.*?(\d+) private prompts · \d+ categories", html, flags=re.S)
    )
    assert counts == {"Coding": "4", "Empty": "0"}
    assert re.search(r"4 private prompts · 3 categories", html)
    assert re.search(r"0 private prompts · 0 categories", html)


def test_the_api_domain_list_counts_each_prompt_once(domains, lab_client):
    body = lab_client.client.get("/api/v1/domains/").json()
    rows = body["results"] if isinstance(body, dict) else body
    assert {row["slug"]: row["active_prompt_count"] for row in rows} == {"coding": 4, "empty": 0}
