"""Charts, landing after login, error pages and the rubric editor, as Chromium shows them.

Measured in the browser, at a 1280 x 900 desktop window: the size the interval chart is actually
drawn at (CSS decides it, not the SVG), the page each role lands on after the login form, that
the error pages carry the site's stylesheet, and that the rubric editor is a tall, monospaced box.
Each step leaves a screenshot in test-artifacts/pages/.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connections

from annotation.models import AnnotatorProfile, Assignment
from annotation.services import assignment_next, rating_submit, review_approve
from leaderboards.models import RecomputeJob
from leaderboards.services import leaderboards_publish_now
from seal.models import PromptSet
from seal.tasking import background
from tests.builders import build_world, good_rating, leaderboard_world
from tests.e2e.test_journey import CHROMIUM_ARGS
from tests.factories import (
    AnnotatorProfileFactory,
    CategoryFactory,
    DomainFactory,
    PromptFactory,
    PromptSetFactory,
    UserFactory,
)
from tests.seal.test_background_tasks import WAIT, in_background  # noqa: F401 - a fixture
from tests.support import PROJECT_DIR, require_chromium, require_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTIFACTS = PROJECT_DIR / "test-artifacts" / "pages"
PASSWORD = "test-password-123"  # tests.factories.UserFactory's
READABLE_PX = 11
HEADER_BACKGROUND = "rgb(15, 39, 64)"  # .site-header in static/seal/site.css


@pytest.fixture
def browser(monkeypatch) -> Iterator[Any]:
    chromium = require_chromium()
    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM calls
    # (seeding) are plain synchronous code all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            # See tests/e2e/test_journey.py: the live server's connections must be closed here.
            connections.close_all()
            launched.close()


def desktop(browser: Any, base_url: str) -> Any:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    return context.new_page()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def smallest_text_px(svg: str, shown_width_px: float) -> float:
    """Font sizes in an SVG are in viewBox units; the browser scales the viewBox to the width."""
    root = ET.fromstring(svg.encode())  # noqa: S314 (matplotlib's own output, not user input)
    viewbox_width = float(root.get("viewBox", "").split()[2])
    sizes = [float(size) for size in re.findall(r"font-size: ([0-9.]+)px", svg)]
    return min(sizes) * shown_width_px / viewbox_width


def test_the_interval_chart_text_reads_at_eleven_px_as_shown(browser, live_server, settings):
    # Approved ratings are append-only: only PostgreSQL's flush (tests/conftest.py) may empty them.
    require_postgres()
    settings.SEAL_LEADERBOARD_REPLICAS = 60
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD = 10
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL = 3
    cache.clear()
    world = leaderboard_world(n_models=6, categories={"language": ["Python", "SQL"]})
    world.rate()
    leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    page = desktop(browser, live_server.url)

    page.goto(f"/leaderboards/{world.domain.slug}/")
    chart = page.locator("img[src$='/intervals.svg']")
    chart.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => { const i = document.querySelector(\"img[src$='/intervals.svg']\");"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    shot(page, "board-desktop")
    shown_width = chart.evaluate("img => img.getBoundingClientRect().width")
    svg = page.request.get(chart.get_attribute("src")).text()

    assert smallest_text_px(svg, shown_width) >= READABLE_PX, shown_width
    # At its own size: not stretched to the width of its caption's one line (its text would swell).
    natural_width = chart.evaluate("img => img.naturalWidth")
    assert shown_width <= natural_width + 1, (shown_width, natural_width)

    page.goto(f"/leaderboards/models/{world.models[0].pk}/")
    shot(page, "model-history")


def log_in(page: Any, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("form[action$='/accounts/login/'] button[type=submit]")


def test_each_role_lands_on_its_page_and_errors_are_site_pages(browser, live_server):
    staff = UserFactory.create(username="staff-sam", is_staff=True, is_superuser=True)
    reviewer = AnnotatorProfileFactory.create(
        user=UserFactory.create(username="rev-rosa"), is_layer1_reviewer=True
    )
    annotator = AnnotatorProfileFactory.create(
        user=UserFactory.create(username="ann-ari"), status=AnnotatorProfile.Status.QUALIFYING
    )
    DomainFactory.create(name="Coding")

    page = desktop(browser, live_server.url)
    log_in(page, annotator.user.username)
    assert page.url == f"{live_server.url}/work/"
    page.goto("/review/")
    shot(page, "403-annotator-on-review")
    assert page.locator("h1").inner_text() == "This page is not open to you"
    assert (
        page.locator(".site-header").evaluate("el => getComputedStyle(el).backgroundColor")
        == HEADER_BACKGROUND
    )
    page.goto("/leaderboards/no-such-domain/")
    shot(page, "404")
    assert page.locator("h1").inner_text() == "There is no page here"
    assert (
        page.locator(".site-header").evaluate("el => getComputedStyle(el).backgroundColor")
        == HEADER_BACKGROUND
    )

    page = desktop(browser, live_server.url)
    log_in(page, reviewer.user.username)
    assert page.url == f"{live_server.url}/review/"

    page = desktop(browser, live_server.url)
    log_in(page, staff.username)
    assert page.url == f"{live_server.url}/admin/"
    assert page.title().endswith("| SEAL administration")
    page.goto("/admin/seal/domain/")
    page.click("text=Coding")
    rubric = page.locator("textarea[name=rubric]")
    shot(page, "admin-rubric")
    assert rubric.input_value().count("\n") > 20
    assert rubric.evaluate("el => el.getBoundingClientRect().height") > 300
    assert "monospace" in rubric.evaluate("el => getComputedStyle(el).fontFamily")


def test_a_stale_form_shows_the_sites_csrf_page(browser, live_server):
    """A form whose CSRF cookie is gone (logged out in another tab, cookies cleared)."""
    page = desktop(browser, live_server.url)
    page.goto("/accounts/login/")
    page.context.clear_cookies()
    page.fill("#id_username", "anyone")
    page.fill("#id_password", "anything")
    with page.expect_navigation():
        page.click("form[action$='/accounts/login/'] button[type=submit]")

    shot(page, "403-csrf")
    assert page.locator("h1").inner_text() == "This form was not sent: it had expired"
    assert (
        page.locator(".site-header").evaluate("el => getComputedStyle(el).backgroundColor")
        == HEADER_BACKGROUND
    )
    page.click("text=Open the form again")
    assert page.locator("#id_username").is_visible()


def test_the_home_page_counts_each_prompt_once(browser, live_server):
    """Issue 14 item 2: a prompt in three categories was counted three times (12 instead of 4)."""
    coding = DomainFactory.create(slug="coding", name="Coding")
    categories = [CategoryFactory.create(domain=coding, value=v) for v in ("Python", "Go", "SQL")]
    active = PromptSetFactory.create(domain=coding, status=PromptSet.Status.ACTIVE)
    for i in range(4):
        PromptFactory.create(prompt_set=active, text=f"Active prompt {i}").categories.set(
            categories[: 2 + i % 2]
        )
    page = desktop(browser, live_server.url)

    page.goto("/")
    shot(page, "home-counts")
    card = page.locator("h3", has_text="Coding").locator("xpath=..")
    assert "4 private prompts · 3 categories" in card.inner_text()


def test_a_final_approval_in_the_browser_returns_before_the_recompute_runs(
    browser,
    live_server,
    in_background,  # noqa: F811 - the fixture imported above
):
    """Issue 14 item 3, on the embedded default (no broker): the layer-2 reviewer's approval
    answers while the background thread is still held, so the recompute cannot have run inside
    the request; it runs once the thread is free."""
    require_postgres()  # emptying approved ratings afterwards: PostgreSQL's flush only
    world = build_world(task_count=1)
    annotator = world.annotator("ann")
    layer1, layer2 = world.reviewer("rev1", 1), world.reviewer("rev2", 2)
    assignment = assignment_next(profile=annotator)
    assert assignment is not None
    rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating())
    review_approve(assignment_id=assignment.pk, reviewer=layer1, layer=1)
    layer2.user.set_password(PASSWORD)
    layer2.user.save(update_fields=["password"])
    page = desktop(browser, live_server.url)
    log_in(page, layer2.user.username)

    page.goto(f"/review/layer-2/{assignment.pk}/")
    page.check("input[name=decision][value=approve]")
    with page.expect_navigation():
        page.click("#submit-review")

    shot(page, "approved-before-recompute")
    assert "Approved." in page.content()
    assert Assignment.objects.get(pk=assignment.pk).status == Assignment.Status.APPROVED
    assert not RecomputeJob.objects.filter(domain=world.domain).exists()  # not run in the request
    in_background.set()
    assert background.wait_until_idle(timeout=WAIT)
    job = RecomputeJob.objects.get(domain=world.domain)
    assert job.status == RecomputeJob.Status.SUCCEEDED
