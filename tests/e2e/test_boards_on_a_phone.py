"""The public boards on a phone, as Chromium lays them out at 390 x 844.

No page may be wider than the screen (the table scrolls inside its own box, if at all), on a
board the table comes before the list of categories, and the interval chart's text, shrunk to the
column, still reads at 11 CSS px. Screenshots go to test-artifacts/phone/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connections

from leaderboards.services import leaderboards_publish_now
from seal.models import Lab, ModelVersion
from tests.builders import leaderboard_world
from tests.e2e.test_journey import CHROMIUM_ARGS
from tests.e2e.test_pages_in_browser import READABLE_PX, smallest_text_px
from tests.support import PROJECT_DIR, require_chromium, require_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTIFACTS = PROJECT_DIR / "test-artifacts" / "phone"
WIDTH, HEIGHT = 390, 844
# Names as long as real ones, so the table is as wide as it is in production.
MODEL_NAMES = ["Atlas-Reasoner 2.0", "Northwind Coder 3.5", "Quill-6 Instruct", "Basalt Mini"]
LAB_NAMES = ["Atlas Foundation", "Northwind AI Research", "Quill Labs", "Basalt Research"]


@pytest.fixture
def phone(monkeypatch, live_server) -> Iterator[Any]:
    chromium = require_chromium()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # see test_pages_in_browser.py
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(
                base_url=live_server.url,
                viewport={"width": WIDTH, "height": HEIGHT},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
            )
            yield context.new_page()
        finally:
            connections.close_all()
            browser.close()


def page_width(page: Any) -> int:
    return int(page.evaluate("() => document.documentElement.scrollWidth"))


def test_boards_fit_a_phone_with_the_table_before_the_categories(phone, settings):
    # Approved ratings are append-only: only PostgreSQL's flush (tests/conftest.py) may empty them.
    require_postgres()
    settings.SEAL_LEADERBOARD_REPLICAS = 60
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD = 10
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL = 3
    cache.clear()
    world = leaderboard_world(
        slug="math",
        n_models=4,
        numeric=True,
        categories={"skill": ["Arithmetic", "Geometry"], "level": ["Olympiad"]},
    )
    for model, name, lab in zip(world.models, MODEL_NAMES, LAB_NAMES, strict=True):
        ModelVersion.objects.filter(pk=model.pk).update(name=name)
        Lab.objects.filter(pk=model.lab_id).update(name=lab)
    world.rate()
    (snapshot,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    settings.SEAL_LEADERBOARD_REPLICAS = 50  # the same ratings, another setting: a second snapshot
    (later,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    history = f"/leaderboards/{world.domain.slug}/snapshots/"

    pages = {
        "index": "/leaderboards/",
        "domain-board": f"/leaderboards/{world.domain.slug}/",
        "category-board": f"/leaderboards/{world.domain.slug}/arithmetic/",
        "model": f"/leaderboards/models/{world.models[1].pk}/",
        # A snapshot's permanent page (with its citation), the changelog and a diff.
        "snapshot-board": f"{history}{snapshot.pk}/",
        "changelog": history,
        "diff": f"/leaderboards/{world.domain.slug}/diff/?from={snapshot.pk}&to={later.pk}",
    }
    widths = {}
    text_px: dict[str, float] = {}
    for name, url in pages.items():
        phone.goto(url)
        phone.wait_for_load_state("load")
        if name.endswith("board"):
            # The charts load lazily: bring each into view and wait until it is drawn.
            for image in phone.locator("figure img").all():
                image.scroll_into_view_if_needed()
            phone.wait_for_function(
                "() => [...document.querySelectorAll('figure img')]"
                ".every(i => i.complete && i.naturalWidth > 0)"
            )
        phone.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        widths[name] = page_width(phone)
        if name.endswith("board"):
            table = phone.locator("table#leaderboard").bounding_box()
            categories = phone.locator("aside.lb-nav").bounding_box()
            assert table["y"] + table["height"] <= categories["y"], name
            # The interval chart is shrunk to the column, not cut off or widening the page.
            chart = phone.locator("img[src$='/intervals.svg']").bounding_box()
            assert chart["width"] > 0, name
            assert chart["x"] >= 0 and chart["x"] + chart["width"] <= WIDTH, name
            # ... and its text, shrunk with it, still reads at 11 CSS px.
            svg = phone.request.get(
                phone.locator("img[src$='/intervals.svg']").get_attribute("src")
            ).text()
            text_px[name] = smallest_text_px(svg, chart["width"])

    assert all(width <= WIDTH for width in widths.values()), widths
    assert text_px and all(px >= READABLE_PX for px in text_px.values()), text_px


def test_the_style_control_section_fits_a_phone_when_opened(phone, settings):
    require_postgres()
    from tests.leaderboards.test_style_control import _styled_world

    settings.SEAL_LEADERBOARD_REPLICAS = 60
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD = 10
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL = 3
    cache.clear()
    world = _styled_world()
    for model, name, lab in zip(world.models, MODEL_NAMES, LAB_NAMES, strict=True):
        ModelVersion.objects.filter(pk=model.pk).update(name=name)
        Lab.objects.filter(pk=model.lab_id).update(name=lab)
    leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    phone.goto(f"/leaderboards/{world.domain.slug}/")
    phone.wait_for_load_state("load")
    section = phone.locator("details#style-control")
    assert not section.evaluate("element => element.open")
    section.locator("summary").click()
    assert section.evaluate("element => element.open")
    assert phone.locator("table.lb-coefficients").is_visible()
    phone.screenshot(path=str(ARTIFACTS / "style-control.png"), full_page=True)
    assert page_width(phone) <= WIDTH
