"""Every page type carries the Content-Security-Policy, and none needs inline script or style.

The policy allows scripts and styles only from this site's files, so a page with an inline
<script>, an on*= handler or a style attribute would break (or need the policy loosened).
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from annotation.services import assignment_next, rating_submit
from leaderboards.services import leaderboards_publish_now
from tests.builders import build_world, good_rating, leaderboard_world
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EXPECTED_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)


class InlineCodeFinder(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, handlers, inline styles."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name.lower() for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self._in_inline_script = True
        if tag == "style":
            self.problems.append("<style> element")
        for name in names:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> event handler")
            if name == "style":
                self.problems.append(f"<{tag} style=...> inline style")

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.problems.append(f"inline <script>: {data.strip()[:60]!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False


def assert_csp_clean(client: Client, url: str, status: int = 200) -> None:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    policy = response["Content-Security-Policy"]
    for directive in EXPECTED_DIRECTIVES:
        assert directive in policy, (url, directive, policy)
    if response["Content-Type"].startswith("text/html"):
        finder = InlineCodeFinder()
        finder.feed(response.content.decode())
        assert not finder.problems, (url, finder.problems)


@pytest.fixture
def fast_leaderboards(settings):
    settings.SEAL_LEADERBOARD_REPLICAS = 60
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD = 10
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL = 3
    cache.clear()
    yield
    cache.clear()


def test_public_and_staff_pages_carry_the_policy_and_no_inline_code(fast_leaderboards):
    world = leaderboard_world(categories={"language": ["Python", "SQL"]})
    world.rate()
    (snapshot,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    board = snapshot.boards.get(key="overall")
    anonymous = Client()
    for url in (
        "/",
        reverse("leaderboards:index"),
        reverse("leaderboards:domain", args=[world.domain.slug]),
        reverse("leaderboards:board", args=[world.domain.slug, "python"]),
        reverse("leaderboards:model", args=[world.models[0].pk]),
        reverse("leaderboards:methodology"),
        reverse("login"),
        reverse("admin:login"),
        reverse("api-docs"),
        reverse("api-docs") + "?script=",  # Swagger UI's init script, served as a file
    ):
        assert_csp_clean(anonymous, url)
    assert_csp_clean(anonymous, "/leaderboards/no-such-domain/", status=404)
    assert_csp_clean(anonymous, reverse("annotation:work_home"), status=302)

    # The SVG charts keep their own, stricter policy.
    chart = anonymous.get(reverse("leaderboards:chart", args=[board.pk, "intervals"]))
    assert chart["Content-Security-Policy"].startswith("default-src 'none'")

    staff = Client()
    staff.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    assert_csp_clean(staff, reverse("admin:index"))
    assert_csp_clean(staff, reverse("admin:password_change"))
    for model in admin.site._registry:
        opts = model._meta
        assert_csp_clean(staff, reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        add = staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        if add.status_code == 200:  # some models cannot be added by hand (403)
            assert_csp_clean(staff, reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    for obj in (world.models[0], world.prompts[0], world.domain, world.raters[0].user):
        label = f"{obj._meta.app_label}_{obj._meta.model_name}"
        assert_csp_clean(staff, reverse(f"admin:{label}_change", args=[obj.pk]))
    # The staff view of the public site (signed in, rendered per user).
    assert_csp_clean(staff, reverse("leaderboards:domain", args=[world.domain.slug]))


def test_annotator_and_reviewer_pages_carry_the_policy_and_no_inline_code(settings):
    settings.SEAL_GOLD_RATE = 0.0
    world = build_world(
        task_count=2,
        answer_text="Answer {i}\n\n| a | b |\n|:-:|--:|\n| 1 | 2 |\n\n```python\nx = {m}\n```",
    )
    annotator = world.annotator("ann")
    reviewer = world.reviewer("rev1", 1)
    rated = assignment_next(profile=annotator)
    assert rated is not None
    rating_submit(assignment_id=rated.pk, profile=annotator, rating=good_rating(2))
    open_one = assignment_next(profile=annotator)
    assert open_one is not None

    client = Client()
    client.force_login(annotator.user)
    for url in (
        reverse("annotation:work_home"),
        reverse("annotation:comparison", args=[open_one.pk]),
        reverse("annotation:history"),
    ):
        assert_csp_clean(client, url)
    # A page refused for lack of the role (403) also carries the policy.
    assert_csp_clean(client, reverse("annotation:review_home"), status=403)

    client = Client()
    client.force_login(reviewer.user)
    for url in (
        reverse("annotation:review_home"),
        reverse("annotation:review_list", kwargs={"layer": 1}),
        reverse("annotation:review_item", kwargs={"layer": 1, "assignment_id": rated.pk}),
    ):
        assert_csp_clean(client, url)
