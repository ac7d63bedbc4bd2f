"""The admin says whose it is, and a domain's rubric is edited as indented, multi-line JSON."""

from __future__ import annotations

import copy
import html
import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from seal.models import Domain
from tests.factories import DEFAULT_RUBRIC, DomainFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    return client


def test_the_admin_is_titled_seal_administration(staff_client):
    page = staff_client.get(reverse("admin:index")).content.decode()

    assert "<title>Catalog, annotation and leaderboards | SEAL administration</title>" in page
    assert '<a href="/admin/">SEAL administration</a>' in page
    assert "Django administration" not in page and "Django site admin" not in page
    login = Client().get(reverse("admin:login")).content.decode()
    assert "<title>Log in | SEAL administration</title>" in login


def rubric_textarea(page: str) -> str:
    match = re.search(r'<textarea name="rubric"[^>]*>\n?(.*?)</textarea>', page, re.S)
    assert match, "no rubric textarea"
    return html.unescape(match.group(1))


def domain_form(domain: Domain, rubric_text: str) -> dict[str, str]:
    return {
        "slug": domain.slug,
        "name": domain.name,
        "description": domain.description,
        "rubric": rubric_text,
        "answer_grading": domain.answer_grading,
        "is_active": "on",
        "categories-TOTAL_FORMS": "0",
        "categories-INITIAL_FORMS": "0",
        "categories-MIN_NUM_FORMS": "0",
        "categories-MAX_NUM_FORMS": "1000",
    }


def test_the_rubric_is_shown_indented_and_saves_back_unchanged(staff_client):
    domain = DomainFactory.create(rubric=copy.deepcopy(DEFAULT_RUBRIC))
    url = reverse("admin:seal_domain_change", args=[domain.pk])

    page = staff_client.get(url).content.decode()
    shown = rubric_textarea(page)

    domain.refresh_from_db()  # PostgreSQL's jsonb keeps its own key order
    assert shown == json.dumps(domain.rubric, ensure_ascii=False, indent=2)
    assert len(shown.splitlines()) > 20
    assert re.search(r'<textarea name="rubric" cols="90" rows="30" class="json-editor"', page)
    assert "seal/admin.css" in page

    response = staff_client.post(url, domain_form(domain, shown))
    assert response.status_code == 302, response.content.decode()[:2000]
    domain.refresh_from_db()
    assert domain.rubric == DEFAULT_RUBRIC


def test_a_bad_rubric_is_refused_by_field_and_shown_back_indented(staff_client):
    domain = DomainFactory.create(rubric=copy.deepcopy(DEFAULT_RUBRIC))
    url = reverse("admin:seal_domain_change", args=[domain.pk])
    bad = copy.deepcopy(DEFAULT_RUBRIC)
    bad["dimensions"][1]["scale"]["min"] = "one"

    response = staff_client.post(url, domain_form(domain, json.dumps(bad)))

    assert response.status_code == 200
    page = response.content.decode()
    assert "dimensions[1].scale.min: must be an integer" in page
    assert rubric_textarea(page) == json.dumps(bad, ensure_ascii=False, indent=2)
    domain.refresh_from_db()
    assert domain.rubric == DEFAULT_RUBRIC

    broken = '{\n  "dimensions": [\n'
    response = staff_client.post(url, domain_form(domain, broken))
    assert response.status_code == 200
    assert "Enter a valid JSON." in response.content.decode()
    assert rubric_textarea(response.content.decode()) == broken
