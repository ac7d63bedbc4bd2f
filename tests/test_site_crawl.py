"""A new user's walk through the demo: every page reachable from the home page loads, per role."""

from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django import DjangoDbBlocker

from leaderboards.models import PublishedLeaderboard
from leaderboards.services import snapshot_charts_render

pytestmark = pytest.mark.django_db

LOCAL_PATH = re.compile(r"(/(?!/)[^#?]*)")
# Links that change state or leave the browsing path (a GET on them is still checked below).
SKIP = ("/accounts/logout/", "/admin/logout/")
MAX_PAGES = 250


class _Links(HTMLParser):
    """Site paths in href/src attributes of real elements; text that merely looks like a tag (an
    answer quoting HTML, shown escaped) is not a link."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value and (match := LOCAL_PATH.match(value)):
                self.paths.append(match.group(1))


def links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.paths


def crawl(client: Client, start: str = "/") -> dict[str, int]:
    seen: dict[str, int] = {}
    queue = deque([start])
    while queue and len(seen) < MAX_PAGES:
        path = queue.popleft()
        if path in seen or path.startswith(SKIP):
            continue
        response = client.get(path)
        seen[path] = response.status_code
        content_type = response.get("Content-Type", "")
        if response.status_code == 200 and "text/html" in content_type:
            for link in links(response.content.decode()):
                # Admin change forms and history pages multiply without telling anything new.
                if re.search(r"/admin/.+/\d+/", link):
                    continue
                if link not in seen:
                    queue.append(link)
    return seen


ROLES = (None, "coder1", "reviewer1", "reviewer2", "admin")


@pytest.fixture(scope="module")
def demo_with_charts(seeded_demo: str, django_db_blocker: DjangoDbBlocker) -> None:
    """The module's demo with its boards' charts drawn once, into the seed's transaction: the
    chart views would draw them on first request, in each role's own (rolled back) transaction,
    so once per role. That view path is tested in tests/leaderboards/test_public_site.py."""
    with django_db_blocker.unblock():
        for pointer in PublishedLeaderboard.objects.select_related("snapshot"):
            snapshot_charts_render(snapshot=pointer.snapshot)


@pytest.mark.parametrize("username", ROLES)
def test_every_page_linked_from_the_home_page_loads_for_each_role(
    demo_with_charts, settings, username
):
    # One seed for all roles (the module's `seeded_demo`); each role's walk is a test of its own,
    # rolled back after it, so whatever a page does for one role cannot change another's.
    settings.SEAL_GOLD_RATE = 0.0
    client = Client()
    if username:
        client.force_login(User.objects.get(username=username))
    pages = crawl(client)
    assert len(pages) >= 10
    # The public site is fully reachable from the home page.
    for must in (
        "/leaderboards/",
        "/methodology/",
        "/leaderboards/coding/",
        "/leaderboards/spanish/",
    ):
        assert pages.get(must) == 200, must
    if username == "coder1":
        assert pages.get("/work/") == 200
    if username == "admin":
        assert pages.get("/admin/") == 200
    broken = {path: status for path, status in pages.items() if status >= 400}
    assert not broken, broken
