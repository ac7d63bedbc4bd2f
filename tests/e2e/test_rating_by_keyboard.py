"""A rating and a review made with the keyboard only, in Chromium at a 1280 x 900 window.

The rating panel must be in view on arrival (no scrolling past the answers) and stay in view
while a long answer is read; the keys alone choose the preference, every score, an issue tag and
the justification, and submit; the next comparison opens by itself, and a draft saves itself.
On the review page, `a` and Enter approve and open the next rating. Runs on SQLite too.
Screenshots go to test-artifacts/pages/.
"""

from __future__ import annotations

from typing import Any

import pytest

from annotation.models import Assignment
from annotation.services import assignment_next, rating_submit
from seal.models import Domain
from tests.annotation.test_rating_form import RUBRIC_WITH_DESCRIPTIONS
from tests.builders import build_world, good_rating
from tests.e2e.test_pages_in_browser import (  # noqa: F401
    ARTIFACTS,
    browser,
    desktop,
    log_in,
    shot,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LONG_ANSWER = "Answer {i}, model {m}.\n\n" + "\n\n".join(
    f"Paragraph {n}: a long explanation of sorting in place, line after line." for n in range(120)
)
JUSTIFICATION = "A handles the empty list; B crashes on it."


def in_viewport(page: Any, selector: str) -> bool:
    """The element is wholly on screen."""
    return page.locator(selector).first.evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= window.innerHeight; }"
    )


def shown_px(page: Any, selector: str) -> float:
    """How many pixels of the element's height are on screen."""
    return page.locator(selector).evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " return Math.max(0, Math.min(r.bottom, window.innerHeight) - Math.max(r.top, 0)); }"
    )


def focused(page: Any) -> str:
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return e.tagName + ':' + (e.name || '') + ':' + (e.value || '').slice(0, 20); }"
    )


def test_rate_a_comparison_with_the_keyboard_only(browser, live_server, settings):  # noqa: F811
    settings.SEAL_GOLD_RATE = 0.0
    world = build_world(task_count=2, answer_text=LONG_ANSWER)
    Domain.objects.filter(pk=world.domain.pk).update(rubric=RUBRIC_WITH_DESCRIPTIONS)
    annotator = world.annotator("ann-kim")

    page = desktop(browser, live_server.url)
    log_in(page, "ann-kim")
    with page.expect_navigation():
        page.click("#start-next")
    first = Assignment.objects.get(annotator=annotator)
    assert page.url.endswith(f"/work/comparisons/{first.pk}/")
    shot(page, "rating-arrival")

    # On arrival: nothing scrolled, and the rubric is in view beside the answers.
    assert page.evaluate("() => window.scrollY") == 0
    assert in_viewport(page, "#preference")
    assert in_viewport(page, "#rubric .score-row")
    assert in_viewport(page, "#rubric .dimension-description")
    box_a = page.locator("#answer-a").bounding_box()
    box_b = page.locator("#answer-b").bounding_box()
    assert box_a["y"] == box_b["y"] and box_a["x"] < box_b["x"], "side by side"
    # Reading to the end of a long answer keeps the panel in view (sticky).
    page.locator("#answer-b .md p").last.scroll_into_view_if_needed()
    assert page.evaluate("() => window.scrollY") > 1000
    assert shown_px(page, "#rating-panel") > 0.8 * 900
    assert in_viewport(page, "#submit-rating")

    page.keyboard.press("2")  # preference: "A better"; the first score group takes the focus
    assert page.locator("input[name=preference][value='1']").is_checked()
    for _ in range(4):  # A then B, per dimension; each number moves on to the next group
        page.keyboard.press("4")
    assert focused(page).startswith("TEXTAREA:justification")
    page.keyboard.press("Shift+Tab")  # back to the last issue checkbox (answer B's)
    assert focused(page) == "INPUT:tags_right:correctness"
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.type(JUSTIFICATION)
    assert page.locator("#justification-count").inner_text() == str(len(JUSTIFICATION))
    # As the screen shows it: a full-page capture would scroll the sticky panel away.
    page.screenshot(path=str(ARTIFACTS / "rating-filled.png"))
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")

    first.refresh_from_db()
    assert first.status == Assignment.Status.SUBMITTED
    fours = {"correctness": 4, "overall": 4}
    assert first.scores == {"a": fours, "b": fours}
    assert first.justification == JUSTIFICATION
    left_key, right_key = ("a", "b") if first.left_is_a else ("b", "a")
    assert first.issue_tags == {left_key: [], right_key: ["correctness"]}
    second = Assignment.objects.exclude(pk=first.pk).get(annotator=annotator)
    assert page.url.endswith(f"/work/comparisons/{second.pk}/")
    assert "Rating submitted for review." in page.content()
    shot(page, "rating-next")

    # Autosave: a few keys, then the draft is on the server without any button.
    page.keyboard.press("5")
    page.keyboard.press("3")
    page.wait_for_function(
        "() => document.getElementById('autosave-status').textContent.startsWith('Draft saved')"
    )
    second.refresh_from_db()
    assert second.draft["preference"] == "-2"
    assert list(second.draft.values()).count("3") == 1

    # A draft the server refuses (the lease ran out) stays unsaved: leaving asks first.
    Assignment.objects.filter(pk=second.pk).update(lease_expires_at=second.leased_at)
    page.keyboard.press("2")
    page.wait_for_function(
        "() => document.getElementById('autosave-status').textContent.includes('expired')"
    )
    with page.expect_event("dialog") as asked:
        page.close(run_before_unload=True)
    assert asked.value.type == "beforeunload"
    asked.value.dismiss()


def test_review_with_the_keys(browser, live_server, settings):  # noqa: F811
    settings.SEAL_GOLD_RATE = 0.0
    world = build_world(task_count=2)
    annotator = world.annotator("ann")
    submitted = []
    while (assignment := assignment_next(profile=annotator)) is not None:
        rating_submit(assignment_id=assignment.pk, profile=annotator, rating=good_rating())
        submitted.append(assignment.pk)
    world.reviewer("rev-rosa", 1)

    page = desktop(browser, live_server.url)
    log_in(page, "rev-rosa")
    page.goto(f"/review/layer-1/{submitted[0]}/")
    # r: reject, cursor in the reason; recording it empty is refused and the choice stays.
    page.keyboard.press("r")
    assert focused(page).startswith("TEXTAREA:reason")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    assert page.locator("input[name=decision][value=reject]").is_checked()
    assert "Say why the rating is rejected" in page.content()
    # a, Enter: approved, and the next rating opens.
    page.keyboard.press("a")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/review/layer-1/{submitted[1]}/")
    assert "Approved." in page.content()
    shot(page, "review-next")
    assert Assignment.objects.get(pk=submitted[0]).status == Assignment.Status.LAYER1_APPROVED
    # n: on to the next without deciding (none left: the queue).
    with page.expect_navigation():
        page.keyboard.press("n")
    assert page.url.endswith("/review/layer-1/")


def test_on_a_phone_a_bar_jumps_to_the_rating_and_skip_opens_the_next(
    browser,  # noqa: F811 - the fixture imported above
    live_server,
    settings,
):
    """At 390 x 844 the panel follows the answers; a bar at the foot of the screen leads to it
    while the answers are read. Skipping, like submitting, opens the next comparison."""
    settings.SEAL_GOLD_RATE = 0.0
    world = build_world(task_count=2, answer_text=LONG_ANSWER)
    annotator = world.annotator("ann-pia")
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    log_in(page, "ann-pia")
    with page.expect_navigation():
        page.click("#start-next")
    first = Assignment.objects.get(annotator=annotator)

    page.locator("#answer-a .md p").nth(40).scroll_into_view_if_needed()
    bar = page.locator("#jump-to-rating").bounding_box()
    shot(page, "rating-phone-reading")
    assert bar is not None and bar["y"] >= 844 - 80 and bar["y"] + bar["height"] <= 844 + 1
    assert not in_viewport(page, "#preference")
    page.click("#jump-to-rating")
    page.wait_for_function(
        "() => { const r = document.getElementById('preference').getBoundingClientRect();"
        " return r.top >= 0 && r.top < window.innerHeight; }"
    )

    with page.expect_navigation():
        page.click("#skip")
    first.refresh_from_db()
    assert first.status == Assignment.Status.SKIPPED
    second = Assignment.objects.exclude(pk=first.pk).get(annotator=annotator)
    assert page.url.endswith(f"/work/comparisons/{second.pk}/")
    assert "Skipped; it goes to another annotator." in page.content()
    context.close()
