"""A category's slug is its board's key under /leaderboards/<domain>/: it may not be the overall
board's key nor the name of a page there, in the admin nor through the service."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, reverse

from leaderboards import urls as leaderboard_urls
from leaderboards.models import OVERALL_KEY
from seal.errors import ApplicationError
from seal.models import RESERVED_CATEGORY_SLUGS, Category
from seal.services import category_add
from tests.factories import DomainFactory, UserFactory

DOMAIN_ROUTE = "leaderboards/<slug:domain_slug>/"


def test_every_page_under_a_domain_and_the_overall_key_are_reserved():
    pages = set()
    for pattern in leaderboard_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        rest = route.removeprefix(DOMAIN_ROUTE)
        if rest != route and rest and not rest.startswith("<"):
            pages.add(rest.split("/")[0])
    pages.discard("feed.atom")  # not a slug: no category can be named so
    assert pages == {"snapshots", "diff", "seasons"}
    assert pages | {OVERALL_KEY} <= RESERVED_CATEGORY_SLUGS


@pytest.mark.django_db
@pytest.mark.parametrize("slug", sorted(RESERVED_CATEGORY_SLUGS))
def test_the_admin_refuses_a_reserved_slug_by_field(client: Client, slug: str):
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    domain = DomainFactory.create()
    response = client.post(
        reverse("admin:seal_category_add"),
        {"domain": domain.pk, "facet": "task", "value": "Anything", "slug": slug},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "names a leaderboard page" in errors["slug"][0]
    assert not Category.objects.exists()


@pytest.mark.django_db
def test_the_service_refuses_a_value_whose_slug_would_be_reserved():
    domain = DomainFactory.create()
    # slugify("overall-!!!") is "overall".
    with pytest.raises(ApplicationError) as refused:
        category_add(domain=domain, facet="overall", value="!!!")
    assert "names a leaderboard page" in refused.value.field_errors["value"][0]
    assert not Category.objects.exists()
    assert category_add(domain=domain, facet="task", value="Diff").slug == "task-diff"
