"""After logging in each person starts where they work; 403, 404 and 500 are the site's own pages.

Landing is annotation.selectors.landing_url, built on the same rules the workspace views enforce
(may_annotate, may_review), so every landing page opens for the person sent there.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path

from annotation.models import AnnotatorProfile
from tests.factories import AnnotatorProfileFactory, UserFactory
from tests.test_content_security_policy import InlineCodeFinder

PASSWORD = "test-password-123"  # tests.factories.UserFactory's
Status = AnnotatorProfile.Status


def log_in(client: Client, username: str, next_url: str | None = None) -> Any:
    data = {"username": username, "password": PASSWORD}
    query = f"?next={next_url}" if next_url is not None else ""
    if next_url is not None:
        data["next"] = next_url
    return client.post(f"/accounts/login/{query}", data)


def person(role: str) -> str:
    if role == "staff":
        return UserFactory.create(username="staff-ann", is_staff=True).username
    if role == "nobody":
        return UserFactory.create(username="visitor").username
    status, layer1, layer2 = {
        "annotator": (Status.VETTED, False, False),
        "qualifying": (Status.QUALIFYING, False, False),
        "applicant": (Status.APPLICANT, False, False),
        "suspended": (Status.SUSPENDED, True, False),
        "reviewer1": (Status.VETTED, True, False),
        "reviewer2": (Status.VETTED, False, True),
    }[role]
    profile = AnnotatorProfileFactory.create(
        user=UserFactory.create(username=f"{role}-bea"),
        status=status,
        is_layer1_reviewer=layer1,
        is_layer2_reviewer=layer2,
    )
    return profile.user.username


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "landing"),
    [
        ("staff", "/admin/"),
        ("reviewer1", "/review/"),
        ("reviewer2", "/review/"),
        ("annotator", "/work/"),
        ("qualifying", "/work/"),
        ("applicant", "/"),
        ("suspended", "/"),
        ("nobody", "/"),
    ],
)
def test_each_role_lands_where_it_works_and_the_page_opens(client, role, landing):
    response = log_in(client, person(role))

    assert response.status_code == 302
    assert response["Location"] == landing
    assert client.get(landing).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("next_url", "landing"),
    [
        ("/leaderboards/", "/leaderboards/"),
        ("/work/history/", "/work/history/"),
        ("https://evil.example/steal", "/review/"),
        ("//evil.example/", "/review/"),
        ("", "/review/"),
    ],
)
def test_a_safe_next_wins_and_an_unsafe_one_is_ignored(client, next_url, landing):
    response = log_in(client, person("reviewer1"), next_url)

    assert response.status_code == 302
    assert response["Location"] == landing


# --- Error pages ---------------------------------------------------------------------------------


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("Only the lab's own staff may open this")


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


urlpatterns = [
    path("test-forbidden/", forbidden),
    path("test-broken/", broken),
    path("", include("seal.urls")),
]


@pytest.fixture
def site_with_failing_views(settings):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False


def assert_site_page(response: Any) -> str:
    """Extends base.html (the site's stylesheet, header and footer), under the site's policy."""
    page = response.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]
    finder = InlineCodeFinder()
    finder.feed(page)
    assert not finder.problems
    assert "/static/seal/site.css" in page
    assert 'class="site-header"' in page and 'class="site-footer"' in page
    return page


@pytest.mark.django_db
def test_403_is_the_sites_page_with_the_reason(client, site_with_failing_views):
    anonymous = client.get("/test-forbidden/")
    assert anonymous.status_code == 403
    page = assert_site_page(anonymous)
    assert "This page is not open to you" in page
    assert "Only the lab&#x27;s own staff may open this" in page
    assert '<a href="/accounts/login/?next=/test-forbidden/">Log in</a>' in page

    client.force_login(UserFactory.create(username="carla"))
    page = client.get("/work/").content.decode()
    assert "The annotation workspace is for vetted annotators" in page
    assert "You are logged in as carla" in page


@pytest.mark.django_db
def test_404_is_the_sites_page(client, site_with_failing_views):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    page = assert_site_page(response)
    assert "There is no page here" in page
    assert "no-such-page" not in page


def test_500_is_the_sites_page_and_needs_no_database(site_with_failing_views):
    """No django_db mark: any query while rendering the page would fail the test."""
    client = Client(raise_request_exception=False)

    response = client.get("/test-broken/")

    assert response.status_code == 500
    page = assert_site_page(response)
    assert "Something went wrong on our side" in page
    assert "boom" not in page


@pytest.mark.django_db
def test_a_stale_form_gets_the_sites_csrf_page_with_a_way_back(site_with_failing_views):
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")  # the CSRF cookie is set; the form below omits its token

    response = client.post("/accounts/login/", {"username": "x", "password": "y"})

    assert response.status_code == 403
    page = assert_site_page(response)
    assert "This form was not sent: it had expired" in page
    assert '<a href="/accounts/login/">Open the form again</a>' in page
    assert "CSRF token" not in page  # Django's reason is for developers (shown under DEBUG only)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "links"),
    [
        ("staff", {"Admin"}),
        ("reviewer1", {"Workspace", "Review"}),
        ("reviewer2", {"Workspace", "Review"}),
        ("annotator", {"Workspace"}),
        ("qualifying", {"Workspace"}),
        ("applicant", set()),
        ("suspended", set()),  # a suspended reviewer flag opens nothing
        ("nobody", set()),
    ],
)
def test_the_header_links_each_role_to_the_workspaces_it_may_open(client, role, links):
    log_in(client, person(role))

    page = client.get("/").content.decode()
    header = page.split("<nav>", 1)[1].split("</nav>", 1)[0]
    shown = {name for name in ("Workspace", "Review", "Admin") if f">{name}</a>" in header}
    assert shown == links
    for name, url in (("Workspace", "/work/"), ("Review", "/review/")):
        if name in shown:
            assert client.get(url).status_code == 200  # a link is never to a 403
